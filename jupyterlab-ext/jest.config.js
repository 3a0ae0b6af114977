// The tests cover the modules that do not import JupyterLab's ES-module
// packages (model, api, icons, the panel on @lumino/widgets' UMD build), so
// ts-jest alone runs them, without transforming node_modules.
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'jsdom',
  setupFiles: ['<rootDir>/jest.shim.js'],
  testRegex: 'src/__tests__/.*\\.spec\\.ts$',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: { module: 'commonjs', esModuleInterop: true, types: ['jest'] } }] }
};
