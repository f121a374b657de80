export * from './local-sealed-store.ts';
export * from './types.ts';
