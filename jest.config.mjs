/** @type {import('jest').Config} */
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': '@swc/jest' },
  moduleNameMapper: {
    '^@app/([a-z-]+)$': '<rootDir>/libs/$1/src/index.ts',
    '^@test/support/(.*)\\.js$': '<rootDir>/test/support/$1',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testEnvironment: 'node',
  rootDir: '.',
};

export default {
  globalSetup: '<rootDir>/test/support/global-setup.mjs',
  globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
  testTimeout: 60000,
  // `npm test` runs the files one at a time in one worker process (--maxWorkers=1). Every test file
  // loads Nest, TypeORM and the rest again, and not all of it is ever freed (about 50 MB a file), so
  // the worker is replaced once its heap passes this after a file. In one process the last files
  // ran in a 1.6 GB heap: the load e2e at a quarter of its speed, and once a login short.
  workerIdleMemoryLimit: '700MB',
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts'] },
    { ...common, displayName: 'int', testMatch: ['<rootDir>/{apps,libs}/**/*.int-spec.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'] },
    // The long part of the reliability suite (`npm run test:soak`); not in `npm test`.
    { ...common, displayName: 'soak', testMatch: ['<rootDir>/test/soak/**/*.soak-spec.ts'] },
  ],
};
