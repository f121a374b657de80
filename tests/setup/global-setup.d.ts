/** Starts Redis, PostgreSQL and moto_server unless TEST_* URLs point at running ones; sets those variables. */
export default function globalSetup(): Promise<void>;
