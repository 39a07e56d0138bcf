// jest configuration of `npm run test:conformance` (test/conformance/cli.js): only the operator's run, against the
// tenant the command line names. `npm test` runs the simulator and real-Issabel targets with the main config.
const path = require('node:path');

module.exports = {
  rootDir: path.resolve(__dirname, '../..'),
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': 'ts-jest' },
  testMatch: ['<rootDir>/test/conformance/operator.conformance.ts'],
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  verbose: true,
  testTimeout: 120000,
};
