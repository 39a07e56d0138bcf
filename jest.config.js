/** Tests live beside their subjects (`*.test.ts`) and under test/ (contract, e2e). */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': 'ts-jest' },
  testMatch: ['<rootDir>/{src,adapters,schemas,test}/**/*.test.ts'],
  testTimeout: 20000,
};
