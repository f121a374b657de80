/** Stops what globalSetup started. */
export default function globalTeardown(): Promise<void>;
