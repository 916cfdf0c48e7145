// Two projects: `unit` needs no servers; `integration` needs the servers that
// scripts/test.sh starts (Ceph RGW, distribution registries) and real clients.
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'es6' } }] };
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform,
  testEnvironment: 'node',
  // A floor, not the limit: every file that waits on processes, servers or the disk sets its own
  // (jest.setTimeout at its top, or per test), sized for a loaded machine (load 4 to 8 on 2 cores).
  testTimeout: 15_000,
};
export default {
  // The secret scan: tests register secrets and Relay's outputs; the run fails if any secret leaked.
  globalSetup: '<rootDir>/test/support/leak-setup.mjs',
  globalTeardown: '<rootDir>/test/support/leak-scan.mjs',
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/packages/*/test/**/*.test.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
  ],
};
