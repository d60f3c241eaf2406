// One linter for the whole tree (ESLint + typescript-eslint); Prettier formats. See docs/adr/0007.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'docs/**', '.trellis/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { process: 'readonly', Buffer: 'readonly', console: 'readonly', URL: 'readonly' },
    },
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Use named exports (STYLE.md).' }],
    },
  },
  {
    files: ['packages/cli/**', 'scripts/**', 'bench/**', 'test/**', '**/test/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // Config files and the vitest reporter are loaded by tools that want a default export.
    // ...and a contract module default-exports its definition (what `trellis contract build` bundles).
    files: ['eslint.config.js', 'vitest.config.ts', 'scripts/summaryReporter.ts', 'contracts/*/src/**'],
    rules: { 'no-restricted-syntax': 'off' },
  },
)
