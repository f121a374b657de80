export * from './coalesce-writes.ts';
export * from './data-plane-tasks.ts';
export * from './execution-records.ts';
export * from './invocation-client.ts';
export * from './published-replies.ts';
export * from './reply-channel.ts';
export * from './reply-consumer.ts';
export * from './task-records.ts';
