/**
 * One jest run over every package and service (native ESM; sources are TypeScript run through swc).
 * Real Redis and PostgreSQL come from jest.global-setup.js; nothing is mocked at that level.
 */
const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2023' },
    module: { type: 'es6' },
    sourceMaps: 'inline',
  },
];

export default {
  // Node's environment, with every test's and hook's timeout multiplied by the run's time scale (a loaded machine).
  testEnvironment: '<rootDir>/tests/setup/environment.js',
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': swc },
  testEnvironmentOptions: { customExportConditions: ['@toolplane/source', 'node', 'node-addons'] },
  testMatch: ['<rootDir>/{services,packages}/*/src/**/*.test.ts', '<rootDir>/tests/**/*.test.ts'],
  globalSetup: '<rootDir>/tests/setup/global-setup.js',
  globalTeardown: '<rootDir>/tests/setup/global-teardown.js',
  testTimeout: 60_000,
  maxWorkers: 2,
};
