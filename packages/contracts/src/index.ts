export * from './catalog.ts';
export * from './descriptor.ts';
export * from './input-rules.ts';
export * from './queue.ts';
export * from './json-limits.ts';
export * from './smart.ts';
export * from './oauth-claims.ts';
export * from './audit.ts';
