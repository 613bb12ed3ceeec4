import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const drivers = ['pg', 'nats', 'ioredis', 'mqtt', 'fastify', 'kysely', 'cbor-x'];

export default tseslint.config(
  {
    ignores: ['**/node_modules/**', '**/dist/**', '**/coverage/**', '.turbo/**', '.drover/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // A catch block must handle, rethrow or log; an empty one swallows errors.
      'no-empty': ['error', { allowEmptyCatch: false }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'all' },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    // domain/ holds the logic: no drivers, so it stays testable without servers.
    files: ['services/*/src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: drivers.map((name) => ({ name, message: 'domain/ imports no driver' })) },
      ],
    },
  },
  {
    files: ['**/*.cjs', 'jest.config.js', 'packages/cli/bin/**/*.js'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
