// Flat ESLint config: type-checked typescript-eslint, plus the module boundaries of
// ../shared/ARCHITECTURE.md (a lib is imported only through its index as @app/<name>).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const LIBS = ['common', 'config', 'database', 'audit', 'profiles', 'cloudentity', 'tyk-portal', 'developers', 'provisioning'];
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

const deepImports = {
  group: ['@app/*/*', '**/libs/*', '../../libs/**', '../../../libs/**'],
  message: 'Import a lib only through @app/<name>.',
};
const appImports = { group: ['**/apps/**'], message: 'A lib never imports an app.' };

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.data/**', 'coverage/**', '**/*.mjs', '**/*.cjs', 'bench/results/**'] },
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
  ...LIBS.map((lib) => ({
    files: [`libs/${lib}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            deepImports,
            appImports,
            {
              group: LIBS.filter((l) => l !== lib && !ALLOWED[lib].includes(l)).map((l) => `@app/${l}`),
              message: `libs/${lib} may import only: ${ALLOWED[lib].join(', ') || 'nothing of ours'} (ARCHITECTURE.md).`,
            },
          ],
        },
      ],
    },
  })),
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
    rules: { 'no-restricted-imports': ['error', { patterns: [deepImports] }] },
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
);
