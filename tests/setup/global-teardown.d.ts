/**
 * Stops what globalSetup started.
 * Jest's global setup/teardown (jest.config.js), also run by scripts/run-tests.ts.
 * @public
 */
export default function globalTeardown(): Promise<void>;
