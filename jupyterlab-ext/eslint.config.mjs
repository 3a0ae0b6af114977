// ESLint's settings for the extension's TypeScript (jlpm eslint:check; run by
// hack/verify.sh), as the JupyterLab extension template sets them up: ESLint's
// and typescript-eslint's recommended rules, the Jupyter plugin's, Prettier's
// formatting and the template's house rules. The tests are outside
// tsconfig.json's project (jest compiles them), so not linted here.
import js from '@eslint/js';
import jupyter from '@jupyter/eslint-plugin';
import prettierRecommended from 'eslint-plugin-prettier/recommended';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig([
  {
    ignores: [
      'node_modules',
      'lib',
      'coverage',
      'kubedesk_jupyterlab',
      '**/*.js',
      '**/*.d.ts',
      '**/__tests__'
    ]
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  { plugins: { jupyter } },
  jupyter.configs.recommended,
  // Prettier's formatting, and off the rules it makes moot; before the
  // house rules, or it would turn curly off too (curly 'all' agrees with
  // Prettier).
  prettierRecommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      globals: { ...globals.browser, ...globals.es2015 },
      parserOptions: { project: 'tsconfig.json', sourceType: 'module' }
    },
    rules: {
      // Interfaces are IThing, as JupyterLab's own.
      '@typescript-eslint/naming-convention': [
        'error',
        {
          selector: 'interface',
          format: ['PascalCase'],
          custom: { regex: '^I[A-Z]', match: true }
        }
      ],
      '@typescript-eslint/no-unused-vars': ['warn', { args: 'none' }],
      '@typescript-eslint/no-explicit-any': 'off',
      // CommandIDs is a namespace, as in JupyterLab's extensions.
      '@typescript-eslint/no-namespace': 'off',
      '@typescript-eslint/no-use-before-define': 'off',
      // kubedesk ships its strings in English only, with no language pack
      // to load. Wrapping just the strings this rule sees (labels, captions,
      // textContent) and not the notices and messages would be half a
      // translation; translating the extension is a change of its own.
      'jupyter/no-untranslated-string': 'off',
      curly: ['error', 'all'],
      eqeqeq: 'error',
      'prefer-arrow-callback': 'error'
    }
  }
]);
