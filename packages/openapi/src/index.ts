export * from './descriptor-tools.ts';
export * from './load-document.ts';
