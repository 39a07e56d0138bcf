/**
 * The web console in a real browser (Debian's chromium, driven by playwright-core) against the demo: sign in,
 * find an extension, create, edit, delete, see a read-only backend explained, plan a migration.
 * `UPDATE_SCREENSHOTS=1` also refreshes the screenshots in docs/.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { registry } from '../../adapters';
import { parseConfig } from '../../src/config';
import { startGateway, type RunningGateway } from '../../src/main';

const root = path.resolve(__dirname, '../..');
const KEY = 'pbxgw_demo_key_0123456789';
const BROWSERS = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => !!p);
let gateway: RunningGateway;
let browser: Browser;
let page: Page;

/** Debian's chromium, installed with apt when it is missing and we may (root); never a browser download. */
function findBrowser(): string | undefined {
  const found = () => BROWSERS.find((p) => fs.existsSync(p));
  if (found() || process.getuid?.() !== 0 || !fs.existsSync('/usr/bin/apt-get')) return found();
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', timeout: 300_000 });
    execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'ignore', timeout: 600_000 });
  } catch {
    // reported below
  }
  return found();
}

beforeAll(async () => {
  const executablePath = findBrowser();
  // Never pass without a browser: say what is missing.
  if (!executablePath) throw new Error(`No browser for the console tests: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH. Looked at: ${BROWSERS.join(', ')}`);
  const config = parseConfig(fs.readFileSync(path.join(root, 'config/demo.yaml'), 'utf8'), { registry, env: {} });
  gateway = await startGateway({ ...config, logging: { level: 'silent' } }, registry, { PORT: '0' });
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('dialog', (d) => void d.accept());
}, 900_000);
afterAll(async () => {
  await browser?.close();
  await gateway?.close(0);
});

const shot = async (name: string) => {
  if (process.env.UPDATE_SCREENSHOTS) await page.screenshot({ path: path.join(root, 'docs', `console-${name}.png`), fullPage: true });
};
const api = async (p: string) => (await fetch(gateway.url + p, { headers: { authorization: `Bearer ${KEY}` } })).json();

it('signs in with the demo key and shows every tenant with its backend and status', async () => {
  await page.goto(`${gateway.url}/console/`);
  await page.getByLabel('API key').fill('not-the-key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Authentication required' }).waitFor();
  await page.getByLabel('API key').fill(KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Tenants' }).waitFor();
  const rows = await page.locator('tbody tr').allInnerTexts();
  expect(rows.map((r) => r.split('\t')[0])).toEqual(['demo-voipbin', 'demo-vitalpbx', 'demo-issabel']);
  expect(rows.every((r) => r.includes('up'))).toBe(true);
  await shot('tenants');
});

it('finds an extension, creates one with a generated password shown once, edits it, and deletes it', async () => {
  await page.getByRole('link', { name: 'demo-voipbin' }).click();
  await page.getByRole('heading', { name: 'Extensions of demo-voipbin' }).waitFor();
  await page.getByLabel('Search (number, name, user)').fill('reception');
  await page.getByRole('button', { name: 'Search' }).click();
  // The unfiltered table shows Reception too: wait for the search's answer to replace it.
  await page.waitForFunction(() => (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }).document.querySelectorAll('tbody tr').length === 1);
  expect(await page.locator('tbody tr').innerText()).toContain('Reception');
  await shot('extensions');

  await page.getByLabel('Number', { exact: true }).fill('777');
  await page.getByLabel('Name', { exact: true }).fill('Console Made');
  await page.getByRole('button', { name: 'Create' }).click();
  const password = await page.locator('#new-password').innerText();
  expect(password).toMatch(/^[A-Za-z0-9]{24}$/);

  await page.getByRole('link', { name: '777' }).click();
  await page.getByRole('heading', { name: 'Extension 777' }).waitFor();
  await page.getByRole('button', { name: 'Show password' }).click();
  await page.locator('#password-out code', { hasText: password }).waitFor();
  await page.getByLabel('Name', { exact: true }).fill('Console Edited');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('td', { hasText: 'Console Edited' }).first().waitFor();
  await shot('extension');
  const listed = (await api('/v1/tenants/demo-voipbin/extensions?page_size=500')) as { items: { extension: string; name: string }[] };
  expect(listed.items.find((e) => e.extension === '777')?.name).toBe('Console Edited');

  await page.getByRole('button', { name: 'Delete extension' }).click();
  await page.getByRole('heading', { name: 'Extensions of demo-voipbin' }).waitFor();
  const after = (await api('/v1/tenants/demo-voipbin/extensions?page_size=500')) as { items: { extension: string }[] };
  expect(after.items.some((e) => e.extension === '777')).toBe(false);
});

it('shows an API problem next to the field it points at', async () => {
  await page.goto(`${gateway.url}/console/#/t/demo-issabel`);
  await page.getByRole('heading', { name: 'Extensions of demo-issabel' }).waitFor();
  await page.getByLabel(/^Number/).fill('1001');
  await page.getByLabel('Name', { exact: true }).fill('Taken');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.locator('section', { hasText: 'Ring groups' }).locator('tbody tr', { hasText: 'Sales' }).waitFor();
  await page.getByRole('alert').filter({ hasText: 'Conflict' }).waitFor();
  expect(await page.getByLabel(/^Number/).getAttribute('aria-invalid')).toBe('true');
  expect(await page.locator('.field-error').innerText()).toBe('already exists');
});

it('explains what a read-only backend cannot do instead of offering it', async () => {
  await page.goto(`${gateway.url}/console/#/t/demo-vitalpbx`);
  await page.getByRole('heading', { name: 'Extensions of demo-vitalpbx' }).waitFor();
  await page.getByText('not available: vitalpbx does not support creating extensions: its API is read-only (the gateway answers 501 Not Implemented)').waitFor();
  expect(await page.getByRole('button', { name: 'Create' }).count()).toBe(0);
  expect(await page.getByRole('button', { name: 'Delete selected' }).isDisabled()).toBe(true);
  await page.getByRole('link', { name: '100' }).click();
  await page.getByRole('heading', { name: 'Voicemail' }).waitFor();
  expect(await page.locator('section', { hasText: 'Voicemail' }).locator('tbody tr').count()).toBeGreaterThan(0);
});

it('plans a migration as a table of actions, then runs it and shows the outcome', async () => {
  await page.goto(`${gateway.url}/console/#/migrate`);
  await page.getByRole('heading', { name: 'Migration' }).waitFor();
  await page.getByLabel('From').selectOption('demo-vitalpbx');
  await page.getByLabel('To').selectOption('demo-issabel');
  await page.getByRole('button', { name: 'Plan (dry run)' }).click();
  await page.getByText(/^Plan: /).waitFor();
  const actions = await page.locator('#plan tbody tr td:nth-child(3)').allInnerTexts();
  expect(actions.length).toBeGreaterThan(0);
  expect(actions.every((a) => ['create', 'update', 'skip', 'conflict', 'invalid'].includes(a))).toBe(true);
  await shot('migration');
  await page.getByRole('button', { name: 'Run migration' }).click();
  await page.getByText(/^Migration (done|failed): /).waitFor({ timeout: 15_000 });
  const results = await page.locator('#progress tbody tr td:nth-child(4)').allInnerTexts();
  expect(results).toHaveLength(actions.length);
  expect(results.every((r) => r === 'done')).toBe(true);
});
