#!/usr/bin/env node
// npm run test:conformance -- --config <file> --tenant <name> [--write <from>-<to>] [--auto-number] [--timeout <s>]
//
// Checks one live tenant through the gateway, built in-process from the config file as `serve --config` builds it.
// Read-only unless --write names a range of numbers the suite may use. Plain JS: runs right after `npm ci`.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const USAGE = `usage: npm run test:conformance -- --config <file> --tenant <name> [--write <from>-<to>] [--auto-number] [--timeout <seconds>]

  --config <file>     the gateway config file (as for pbx-gateway serve --config); \${VARS} come from the environment
  --tenant <name>     the tenant to check
  --write <from>-<to> also create, change and delete extensions and ring groups, only at free numbers in this
                      range (e.g. 9900-9999), comparing every backend setting before and after each change;
                      everything created is deleted at the end. Without it the run only reads.
  --auto-number       with --write, also create one extension without a number (where the tenant can): the
                      backend picks the number, possibly outside the range; it is deleted at once
  --timeout <seconds> per check (default 120)

See test/conformance/README.md.`;

function fail(message) {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
const opts = {};
for (let i = 0; i < args.length; i++) {
  const [flag, inline] = args[i].split(/=(.*)/s);
  const value = () => {
    const v = inline !== undefined ? inline : args[++i];
    if (v === undefined || v === '') fail(`${flag} needs a value`);
    return v;
  };
  switch (flag) {
    case '--config': opts.config = value(); break;
    case '--tenant': opts.tenant = value(); break;
    case '--write': opts.write = value(); break;
    case '--timeout': opts.timeout = value(); break;
    case '--auto-number': opts.autoNumber = true; break;
    case '-h':
    case '--help': process.stdout.write(`${USAGE}\n`); process.exit(0); break;
    default: fail(`unknown argument: ${args[i]}`);
  }
}
if (!opts.config) fail('--config is required');
if (!opts.tenant) fail('--tenant is required');
// npm runs scripts in the package folder: a relative path is relative to where npm was started.
const config = path.resolve(process.env.INIT_CWD || process.cwd(), opts.config);
if (!fs.existsSync(config)) fail(`no such config file: ${config}`);
if (opts.write !== undefined) {
  const m = /^(\d+)-(\d+)$/.exec(opts.write);
  if (!m || Number(m[1]) > Number(m[2])) fail(`--write takes a range of numbers <from>-<to>, e.g. 9900-9999 (got ${opts.write})`);
  if (Number(m[2]) - Number(m[1]) > 100000) fail('--write: a range of at most 100000 numbers');
}
if (opts.autoNumber && opts.write === undefined) fail('--auto-number needs --write');
if (opts.timeout !== undefined && !(Number(opts.timeout) > 0)) fail(`--timeout takes seconds (got ${opts.timeout})`);

const root = path.resolve(__dirname, '../..');
const env = {
  ...process.env,
  CONFORMANCE_CONFIG: config,
  CONFORMANCE_TENANT: opts.tenant,
  CONFORMANCE_WRITE: opts.write || '',
  CONFORMANCE_AUTO_NUMBER: opts.autoNumber ? '1' : '',
  CONFORMANCE_TIMEOUT_MS: opts.timeout ? String(Math.round(Number(opts.timeout) * 1000)) : '',
};
process.stdout.write(`conformance: tenant ${opts.tenant} from ${config}, ${opts.write ? `writes in ${opts.write}` : 'read-only'}\n`);
const jest = require.resolve('jest/bin/jest', { paths: [root] });
const run = spawnSync(process.execPath, [jest, '--config', path.join(__dirname, 'jest.config.js'), '--runInBand'], { cwd: root, env, stdio: 'inherit' });
if (run.error) {
  process.stderr.write(`could not run jest: ${run.error.message}\n`);
  process.exit(1);
}
process.exit(run.status === null ? 1 : run.status);
