export * from './ticket-system.ts';
export * from './github-queries.ts';
