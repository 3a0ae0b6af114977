// ts-jest compiles the extension and its tests. The plugins' tests load
// JupyterLab's own packages, which ship ES modules: ts-jest, with allowJs,
// turns those into CommonJS too (without type checks: transpiling only), so
// neither babel nor @jupyterlab/testing is needed; their SVG icons load as
// strings, as webpack's loader gives them.
const esModules = ['@jupyter', '@jupyterlab', '@microsoft', 'exenv-es6'].join('|');

module.exports = {
  testEnvironment: 'jsdom',
  setupFiles: ['<rootDir>/jest.shim.js'],
  testRegex: 'src/__tests__/.*\\.spec\\.ts$',
  transform: {
    '^.+\\.ts$': [
      'ts-jest',
      { tsconfig: { module: 'commonjs', esModuleInterop: true, resolveJsonModule: true, types: ['jest'] } }
    ],
    '^.+\\.js$': [
      'ts-jest',
      { tsconfig: { allowJs: true, isolatedModules: true, module: 'commonjs', esModuleInterop: true } }
    ],
    '\\.svg$': '<rootDir>/jest.svg.js'
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esModules})/)`]
};
