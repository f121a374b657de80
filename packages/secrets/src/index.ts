export * from './aws-secrets-manager.ts';
export * from './local-sealed-store.ts';
export * from './types.ts';
export * from './record-arguments.ts';
