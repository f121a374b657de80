/**
 * Starts Redis, PostgreSQL and moto_server unless TEST_* URLs point at running ones; sets those variables.
 * Jest's global setup/teardown (jest.config.js), also run by scripts/run-tests.ts.
 * @public
 */
export default function globalSetup(): Promise<void>;
