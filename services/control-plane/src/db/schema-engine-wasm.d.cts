// Types for the CommonJS migration runner next to this file.
interface MigrateOptions {
  connectionString: string;
  migrationsDir: string;
  log?: (message: string) => void;
}
declare const engine: {
  migrateDeploy(opts: MigrateOptions): Promise<string[]>;
  migrateStatus(opts: MigrateOptions): Promise<unknown>;
  createMigration(opts: {
    connectionString: string;
    shadowDatabaseUrl?: string;
    schemaPath: string;
    migrationsDir: string;
    name: string;
    log?: (m: string) => void;
  }): Promise<string | null>;
};
export = engine;
