/**
 * The OpenAPI document as a tool nobody on the project wrote reads it: Redocly's linter (its recommended rules,
 * pinned as a devDependency) finds no error and no warning in what `/openapi.json` serves.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { version } from '../../package.json';
import { buildOpenApi } from '../../src/openapi';

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');

interface LintReport {
  totals: { errors: number; warnings: number; ignored: number };
  problems: { ruleId: string; severity: string; message: string; location: { pointer?: string }[] }[];
}

describe('OpenAPI document under Redocly lint', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'pbxgw-openapi-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has no error and no warning', () => {
    const file = path.join(dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(buildOpenApi(version), null, 2));
    // From the project root, so a redocly.yaml there (rules turned off, with the reason) would apply; no telemetry
    // and no update check: the test needs no network.
    const run = spawnSync(process.execPath, [CLI, 'lint', file, '--format=json'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
    });
    const start = run.stdout.indexOf('{');
    expect({ started: start >= 0, stderr: start >= 0 ? '' : run.stderr }).toEqual({ started: true, stderr: '' });
    const report = JSON.parse(run.stdout.slice(start)) as LintReport;
    const found = report.problems.map((p) => `${p.severity} ${p.ruleId} at ${p.location.map((l) => l.pointer).join(', ')}: ${p.message}`);
    expect(found).toEqual([]);
    expect(report.totals).toEqual({ errors: 0, warnings: 0, ignored: 0 });
    expect(run.status).toBe(0);
  }, 90_000);

  it('declares a 2xx answer on every operation but the root, which only redirects (redocly.yaml)', () => {
    const paths = buildOpenApi(version).paths as Record<string, Record<string, { responses: Record<string, unknown> }>>;
    const without = Object.entries(paths).flatMap(([p, ops]) => Object.entries(ops).filter(([, op]) => !Object.keys(op.responses).some((s) => s.startsWith('2'))).map(([m]) => `${m} ${p}`));
    expect(without).toEqual(['get /']);
  });
});
