// ESLint with type information (typescript-eslint): the recommended rules, plus the promise rules
// that catch a forgotten await or a promise handed to a callback that ignores it.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import { sizeExceptions } from './eslint.size-exceptions.js';

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/',
      '**/dist/',
      '.toolchain/',
      'coverage/',
      'services/control-plane/src/generated/',
      'packages/client/src/schema.ts',
      'bench/results/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { languageOptions: { globals: globals.node } },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['services/control-plane/prisma.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    // The management API's routers come from apiRouter() (http/api-router.ts): case-sensitive and strict, so that
    // a request reaches a handler only by its documented path and is admitted by the operation that matched (resources/operation.ts).
    files: ['services/control-plane/src/**/*.ts'],
    ignores: [
      'services/control-plane/src/http/api-router.ts',
      'services/control-plane/src/resources/connect/router.ts',
      'services/control-plane/src/resources/approvals/page-router.ts',
      'services/control-plane/src/http/dashboard.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'express',
              importNames: ['Router'],
              allowTypeImports: true,
              message: 'Build management API routers with apiRouter() from http/api-router.ts.',
            },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name='express'][property.name='Router']",
          message: 'Build management API routers with apiRouter() from http/api-router.ts.',
        },
      ],
    },
  },
  {
    // Functions stay small: the exceptions, each with its reason, are listed in eslint.size-exceptions.js.
    files: ['services/*/src/**/*.ts', 'packages/*/src/**/*.{ts,tsx}', 'scripts/**/*.ts'],
    ignores: ['**/*.test.ts', '**/*.test.tsx'],
    rules: {
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true, IIFEs: true }],
      'max-params': ['error', 4],
    },
  },
  ...sizeExceptions.flatMap(({ files }) =>
    Object.entries(files).map(([file, limit]) => ({
      files: [file],
      rules: {
        'max-lines-per-function': [
          'error',
          { max: Math.max(80, limit.lines ?? 0), skipBlankLines: true, skipComments: true, IIFEs: true },
        ],
        'max-params': ['error', Math.max(4, limit.params ?? 0)],
      },
    })),
  ),
  {
    // Tests may reach into untyped results (JSON bodies, SDK internals) without declaring every shape.
    files: ['**/*.test.ts', 'tests/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
