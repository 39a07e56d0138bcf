#!/usr/bin/env node
/**
 * `npm start`'s prestart: build only when dist/ is missing or older than its sources. `npm ci` has just built
 * (prepare), so starting right after it does not build again; an edit to a source file does.
 *
 * Sources: src/, adapters/, schemas/, console/ (tests left out: they are not built) and the tsconfig files.
 * Outputs: the entry points of both builds; tsc writes every output on each build, so the oldest of these is when
 * the last whole build ended (a build that failed half-way leaves one of them old, and the next start builds).
 * `node scripts/build-if-stale.js --check` only says whether a build is due (exit 1 when it is).
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const SOURCE_DIRS = ['src', 'adapters', 'schemas', 'console'];
const OUTPUTS = ['dist/src/main.js', 'dist/src/cli.js', 'dist/web/console/app.js'];

/** The newest source file: its path and mtime. */
function newestSource() {
  let newest = { file: undefined, mtime: 0 };
  const consider = (file) => {
    const mtime = fs.statSync(file).mtimeMs;
    if (mtime > newest.mtime) newest = { file, mtime };
  };
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(full);
      } else if (entry.isFile() && !/\.test\.ts$/.test(entry.name)) consider(full);
    }
  };
  for (const dir of SOURCE_DIRS) if (fs.existsSync(path.join(root, dir))) walk(path.join(root, dir));
  for (const name of fs.readdirSync(root)) if (/^tsconfig.*\.json$/.test(name)) consider(path.join(root, name));
  return newest;
}

/** Why a build is due, or undefined when dist/ is up to date. */
function staleReason() {
  let built = Infinity;
  for (const out of OUTPUTS) {
    const file = path.join(root, out);
    if (!fs.existsSync(file)) return `${out} is missing`;
    built = Math.min(built, fs.statSync(file).mtimeMs);
  }
  const newest = newestSource();
  if (newest.mtime > built) return `${path.relative(root, newest.file)} is newer than dist/`;
  return undefined;
}

const reason = staleReason();
if (process.argv.includes('--check')) {
  process.stdout.write(reason ? `build due: ${reason}\n` : 'dist/ is up to date\n');
  process.exit(reason ? 1 : 0);
}
if (reason) {
  process.stderr.write(`building (${reason})\n`);
  // Under npm, npm_execpath is npm's own script: run it with this node, so no shell or PATH lookup is needed.
  const npm = process.env.npm_execpath;
  const run = npm
    ? spawnSync(process.execPath, [npm, 'run', 'build', '--silent'], { cwd: root, stdio: 'inherit' })
    : spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  process.exit(run.status ?? 1);
}
