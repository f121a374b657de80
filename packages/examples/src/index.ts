export * from './ticket-system.ts';
