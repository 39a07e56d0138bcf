/** Tests live beside their subjects (`*.test.ts`) and under test/ (contract, e2e). */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': 'ts-jest' },
  testMatch: ['<rootDir>/{src,adapters,schemas,test}/**/*.test.ts'],
  testTimeout: 20000,
  globalSetup: '<rootDir>/test/global-setup.js',
  // dist/ is build output (with a copy of package.json): not a second module tree.
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
};
