export * from './invocation-client.ts';
export * from './invocation-consumer.ts';
