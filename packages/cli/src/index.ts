export * from './example.ts';
export * from './stack.ts';
