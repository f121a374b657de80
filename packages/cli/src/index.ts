export * from './api-client.ts';
export * from './example.ts';
export * from './stack.ts';
