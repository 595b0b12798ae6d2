// Flat ESLint config: type-checked typescript-eslint, plus the module boundaries of
// ../shared/ARCHITECTURE.md (a lib is imported only through its index as @app/<name>).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const LIBS = [
  'common',
  'config',
  'database',
  'audit',
  'profiles',
  'cloudentity',
  'tyk-portal',
  'developers',
  'provisioning',
];
/** Which libs each lib may import (ARCHITECTURE.md "Modules"). */
const ALLOWED = {
  common: [],
  config: ['common'],
  database: ['common', 'config'],
  audit: ['common', 'config', 'database'],
  profiles: ['common', 'config', 'database', 'audit'],
  cloudentity: ['common', 'config', 'database'],
  'tyk-portal': ['common', 'config'],
  developers: ['common', 'config', 'database', 'audit'],
  provisioning: ['common', 'config', 'database', 'audit', 'developers', 'tyk-portal'],
};

/** What Node.js provides without an import (bench/ and scripts/ are plain JavaScript). */
const NODE_GLOBALS = Object.fromEntries(
  [
    'process',
    'console',
    'Buffer',
    'URL',
    'URLSearchParams',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'setImmediate',
    'clearImmediate',
    'queueMicrotask',
    'fetch',
    'performance',
    'AbortController',
    'AbortSignal',
    'TextEncoder',
    'TextDecoder',
    'structuredClone',
  ].map((name) => [name, /** @type {const} */ ('readonly')]),
);

const deepImports = {
  group: ['@app/*/*', '**/libs/*', '../../libs/**', '../../../libs/**'],
  message: 'Import a lib only through @app/<name>.',
};
const appImports = { group: ['**/apps/**'], message: 'A lib never imports an app.' };
const testSupportImports = {
  group: ['**/test/support/*', '../support/*', '../../support/*'],
  message: 'Import test helpers as @test/support/<file>.js (tsconfig paths, jest moduleNameMapper).',
};

/**
 * Issue 18, one job per file: no source file over 300 lines (blank and comment lines not counted)
 * unless it is listed here with the reason it is one file (also written in its header). Specs are
 * exempt: a spec follows its subject's behaviours, not its size.
 */
const LONG_FILES = {
  'bench/run.mjs': "the bench's sequence (stack, phases in order, results); the phases are bench/*.mjs modules",
  'bench/audit.mjs': "the bench's audit phase: seeding, sealing and timings share the seeded data's shape",
  'test/support/fake-idp.ts': "the fake OpenID provider: its endpoints share one state and each knob's endpoint",
  'apps/dev-idp/src/dev-idp.ts': 'serving oidc-provider: mostly the one Configuration object it takes',
  'libs/profiles/src/profile.codec.ts': "decoding TIB's profile format in one pass, so a save reports every problem",
  // The registerAs slices per concern are in config-slices.ts (done); what stays here is the one load.
  'libs/config/src/broker-config.ts':
    "the BrokerConfig type and loadBrokerConfig: TIB's settings and the broker's, each read env > tib.conf > default in one validation pass that reports every problem at once",
  // Being reworked on another branch (the security console).
  'apps/broker/src/console/views/pages.ts': "the security console's pages",
};
const MAX_LINES = { max: 300, skipBlankLines: true, skipComments: true };

export default tseslint.config(
  // bench/platform-probe is its own npm package (its dependencies are not the product's): not
  // type-checked or linted here, where they are not installed.
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      '.data/**',
      'coverage/**',
      '**/*.cjs',
      'bench/results/**',
      'bench/platform-probe/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/require-await': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-extraneous-class': 'off',
      eqeqeq: ['error', 'always'],
      curly: ['error', 'multi-line'],
      'no-console': 'error',
    },
  },
  {
    // bench/, scripts/ and the jest setup files are plain ESM, type-checked through JSDoc by
    // tsconfig.scripts.json (checkJs); the same rules as the TypeScript, with that project's types.
    files: ['**/*.mjs'],
    languageOptions: {
      parserOptions: {
        projectService: false,
        project: ['./tsconfig.scripts.json'],
        tsconfigRootDir: import.meta.dirname,
      },
      globals: NODE_GLOBALS,
    },
    rules: {
      // Untyped JavaScript (values are `any` unless a JSDoc says otherwise), as in the specs.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      'no-console': 'off',
    },
  },
  {
    // The console's browser script (served as a file, not compiled): ES5-style, browser globals.
    files: ['apps/broker/src/console/assets/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'script',
      globals: { window: 'readonly', document: 'readonly' },
    },
  },
  {
    // The lint config itself: linted without type information (its rule tables are not worth JSDoc).
    files: ['eslint.config.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  ...LIBS.map((lib) => ({
    files: [`libs/${lib}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            deepImports,
            appImports,
            testSupportImports,
            {
              group: LIBS.filter((l) => l !== lib && !ALLOWED[lib].includes(l)).map((l) => `@app/${l}`),
              message: `libs/${lib} may import only: ${ALLOWED[lib].join(', ') || 'nothing of ours'} (ARCHITECTURE.md).`,
            },
          ],
          // Issue 18: a lib injects its config slice (`@Inject(serverConfig.KEY)`), not the whole config.
          paths:
            lib === 'config'
              ? []
              : [
                  {
                    name: '@app/config',
                    importNames: ['BROKER_CONFIG', 'BrokerConfig', 'configSlices'],
                    message: 'Inject only the slice(s) this lib needs, e.g. @Inject(serverConfig.KEY) (issue 18).',
                  },
                ],
        },
      ],
    },
  })),
  {
    // Issue 18: every SQL statement of these libs lives in a `*.repository.ts` (services keep the
    // rules and the auditing). SQL is a string handed to `.query(…)`, or a prepared statement.
    files: [
      'libs/developers/src/**/*.ts',
      'libs/cloudentity/src/**/*.ts',
      'libs/profiles/src/**/*.ts',
      'libs/audit/src/**/*.ts',
    ],
    ignores: ['**/*.repository.ts', '**/*.spec.ts', '**/*.int-spec.ts', 'libs/profiles/src/profiles.cache.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "CallExpression[callee.property.name='query'][arguments.0.type=/^(TemplateLiteral|Literal)$/], CallExpression[callee.name=/^(preparedQuery|preparedStatement|returningRows)$/]",
          message: 'SQL belongs in a *.repository.ts of the owning lib (issue 18).',
        },
      ],
    },
  },
  {
    files: ['apps/dev-idp/**/*.ts', 'apps/portal-emulator/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['@app/*'], message: 'Stand-ins import nothing of ours.' }] },
      ],
    },
  },
  {
    files: ['apps/broker/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [deepImports, testSupportImports] }] },
  },
  {
    files: ['test/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [testSupportImports] }] },
  },
  {
    files: ['**/*.spec.ts', '**/*.int-spec.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
      'no-console': 'off',
    },
  },
  {
    files: ['**/*.ts', '**/*.mjs'],
    ignores: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts', '**/*.soak-spec.ts', ...Object.keys(LONG_FILES)],
    rules: { 'max-lines': ['error', MAX_LINES] },
  },
);
