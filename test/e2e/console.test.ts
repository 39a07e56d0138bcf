/**
 * The web console in a real browser (Debian's chromium, driven by playwright-core) against the demo: sign in,
 * find an extension, create, edit, delete, see a read-only backend explained, plan a migration. Every page is
 * audited at 1280 px and 390 px: axe-core (injected from node_modules) with zero violations, disabled controls
 * readable (axe skips them: checked here), nothing wider than the viewport, and no request answered 404.
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
  // bypassCSP: only so the audit can inject axe-core; the console itself runs under its CSP in every other respect.
  page = await browser.newPage({ viewport: { width: 1280, height: 800 }, bypassCSP: true });
  page.on('dialog', (d) => void d.accept());
  page.on('response', (r) => {
    if (r.status() === 404 && !new URL(r.url()).pathname.startsWith('/v1/')) missing.push(r.url());
  });
}, 900_000);
afterAll(async () => {
  await browser?.close();
  await gateway?.close(0);
});

const shot = async (name: string) => {
  if (process.env.UPDATE_SCREENSHOTS) await page.screenshot({ path: path.join(root, 'docs', `console-${name}.png`), fullPage: true });
};
const api = async (p: string) => (await fetch(gateway.url + p, { headers: { authorization: `Bearer ${KEY}` } })).json();
const missing: string[] = [];
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** Contrast of every disabled control against what is behind it (axe-core leaves disabled controls out). */
const DISABLED_CONTRAST = `(() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = (c) => { const [r, g, b] = rgb(c).slice(0, 3).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const bgOf = (el) => { for (let e = el; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor; const a = rgb(c)[3]; if (a === undefined || a > 0) return c; } return 'rgb(255, 255, 255)'; };
  return [...document.querySelectorAll('button:disabled, input:disabled, select:disabled')].map((el) => {
    const a = lum(getComputedStyle(el).color), b = lum(bgOf(el));
    return { text: el.textContent.trim() || el.getAttribute('name'), ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) };
  });
})()`;

/** The page at 1280 px and at 390 px: no axe-core violation, readable disabled controls, no sideways scrolling. */
async function audit(label: string): Promise<void> {
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 800 });
    if (!(await page.evaluate('typeof axe !== "undefined"'))) await page.addScriptTag({ content: AXE });
    const violations = (await page.evaluate('axe.run(document).then((r) => r.violations.map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target.join(" ")) })))')) as unknown[];
    expect({ label, width, violations }).toEqual({ label, width, violations: [] });
    const disabled = (await page.evaluate(DISABLED_CONTRAST)) as { text: string; ratio: number }[];
    for (const d of disabled) expect({ label, width, control: d.text, readable: d.ratio >= 4.5 }).toEqual({ label, width, control: d.text, readable: true });
    const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
    expect({ label, width, overflow }).toEqual({ label, width, overflow: 0 });
    const signOut = page.getByRole('button', { name: 'Sign out' });
    if (await signOut.isVisible()) {
      const box = (await signOut.boundingBox())!;
      expect({ label, width, signOutInside: box.x >= 0 && box.x + box.width <= width }).toEqual({ label, width, signOutInside: true });
    }
    const search = page.getByRole('search');
    if (await search.count()) {
      const input = (await search.getByRole('searchbox').boundingBox())!;
      const button = (await search.getByRole('button', { name: 'Search' }).boundingBox())!;
      // Beside its input: on the same line, not under it.
      expect({ label, width, besideInput: button.y < input.y + input.height && button.y + button.height > input.y && button.x >= input.x + input.width }).toEqual({ label, width, besideInput: true });
    }
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  expect(missing).toEqual([]);
}

it('signs in with the demo key and shows every tenant with its backend and status', async () => {
  await page.goto(`${gateway.url}/console/`);
  await page.getByRole('heading', { name: 'Sign in to pbx-gateway' }).waitFor();
  // No navigation and no Sign out before signing in.
  expect(await page.locator('#nav').isVisible()).toBe(false);
  expect(await page.getByRole('button', { name: 'Sign out' }).isVisible()).toBe(false);
  await audit('sign in');
  await page.getByLabel('API key').fill('not-the-key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Authentication required' }).waitFor();
  await page.getByLabel('API key').fill(KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Tenants' }).waitFor();
  const rows = await page.locator('tbody tr').allInnerTexts();
  expect(rows.map((r) => r.split('\t')[0])).toEqual(['demo-voipbin', 'demo-vitalpbx', 'demo-issabel']);
  expect(rows.every((r) => r.includes('up'))).toBe(true);
  expect(await page.getByRole('button', { name: 'Sign out' }).isVisible()).toBe(true);
  await audit('tenants');
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
  await audit('extensions, searched');
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
  await audit('an extension');
  await shot('extension');
  const listed = (await api('/v1/tenants/demo-voipbin/extensions?page_size=500')) as { items: { extension: string; name: string }[] };
  expect(listed.items.find((e) => e.extension === '777')?.name).toBe('Console Edited');

  await page.getByRole('button', { name: 'Delete extension' }).click();
  await page.getByRole('heading', { name: 'Extensions of demo-voipbin' }).waitFor();
  const after = (await api('/v1/tenants/demo-voipbin/extensions?page_size=500')) as { items: { extension: string }[] };
  expect(after.items.some((e) => e.extension === '777')).toBe(false);
  // The tenant's page lists its change events, newest first: the deletion, then the edit and the creation.
  const events = page.locator('section', { hasText: 'Recent events' }).locator('tbody tr');
  await events.filter({ hasText: 'extension.deleted' }).waitFor();
  const rows = await events.allInnerTexts();
  expect(rows.slice(0, 3).map((r) => /extension\.(\w+)/.exec(r)?.[1])).toEqual(['deleted', 'updated', 'created']);
  expect(rows[0]).toContain('777');
  expect(rows[1]).toContain('name');
  await audit('extensions with recent events');
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
  await audit('issabel extensions, a field fault');
});

it('gives the status the gateway really answers for a field the backend cannot store', async () => {
  const res = await fetch(`${gateway.url}/v1/tenants/demo-issabel/extensions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ extension: '1777', name: 'With Description', description: 'not storable' }),
  });
  const status = res.status;
  expect(status).toBe(422);
  await page.goto(`${gateway.url}/console/#/t/demo-issabel`);
  await page.getByRole('heading', { name: 'Extensions of demo-issabel' }).waitFor();
  const reason = await page.locator('.reason', { hasText: 'a description' }).innerText();
  expect(reason).toContain(`the gateway answers ${status}`);
});

it('says a search matched nothing, and that an unknown extension was not found', async () => {
  await page.goto(`${gateway.url}/console/#/t/demo-voipbin`);
  await page.getByRole('heading', { name: 'Extensions of demo-voipbin' }).waitFor();
  await page.getByLabel('Search (number, name, user)').fill('no-such-name-zz');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByText('No extension of demo-voipbin matches “no-such-name-zz”.').waitFor();
  expect(await page.getByRole('table', { name: 'Extensions of demo-voipbin' }).count()).toBe(0);
  await audit('extensions, no match');

  await page.goto(`${gateway.url}/console/#/t/demo-voipbin/e/no-such-id`);
  await page.getByRole('heading', { name: 'Extension not found' }).waitFor();
  expect(await page.getByRole('heading', { name: 'Something failed' }).count()).toBe(0);
  await audit('unknown extension');
});

it('pages through the directory beyond its first page', async () => {
  const rows = Array.from({ length: 30 }, (_, i) => JSON.stringify({ extension: String(8100 + i), name: `Paged ${String(i).padStart(2, '0')}` })).join('\n');
  const imported = await fetch(`${gateway.url}/v1/tenants/demo-voipbin/extensions/import?dry_run=false&async=false`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/x-ndjson' },
    body: rows,
  });
  expect(imported.status).toBe(200);
  // The search keeps each tenant's list 5 s: wait for a snapshot with the new rows.
  while (((await api('/v1/extensions?q=Paged&page_size=500')) as { items: unknown[] }).items.length < 30) await new Promise((r) => setTimeout(r, 250));
  await page.goto(`${gateway.url}/console/#/directory`);
  await page.getByRole('heading', { name: 'Directory' }).waitFor();
  await page.getByLabel('Search every tenant').fill('Paged');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('button', { name: 'Next page' }).waitFor();
  const first = await page.locator('tbody tr').allInnerTexts();
  expect(first).toHaveLength(25);
  await audit('directory');
  await page.getByRole('button', { name: 'Next page' }).click();
  await page.getByRole('button', { name: 'First page' }).waitFor();
  const second = await page.locator('tbody tr').allInnerTexts();
  expect(second).toHaveLength(5);
  expect(new Set([...first, ...second]).size).toBe(30);
  expect(await page.getByRole('button', { name: 'Next page' }).count()).toBe(0);
  await page.getByLabel('Search every tenant').fill('zz-nothing-zz');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByText('No extension matches “zz-nothing-zz”.').waitFor();
  expect(await page.locator('table').count()).toBe(0);
  await audit('directory, no match');
}, 60_000);

it('explains what a read-only backend cannot do instead of offering it', async () => {
  await page.goto(`${gateway.url}/console/#/t/demo-vitalpbx`);
  await page.getByRole('heading', { name: 'Extensions of demo-vitalpbx' }).waitFor();
  await page.getByText('not available: vitalpbx does not support creating extensions: its API is read-only (the gateway answers 501 Not Implemented)').waitFor();
  expect(await page.getByRole('button', { name: 'Create' }).count()).toBe(0);
  expect(await page.getByRole('button', { name: 'Delete selected' }).isDisabled()).toBe(true);
  await page.getByRole('link', { name: '100' }).click();
  await page.getByRole('heading', { name: 'Voicemail' }).waitFor();
  expect(await page.locator('section', { hasText: 'Voicemail' }).locator('tbody tr').count()).toBeGreaterThan(0);
  // Times in the browser's locale, the RFC 3339 original kept in datetime.
  const received = page.locator('section', { hasText: 'Voicemail' }).locator('tbody tr td:nth-child(3) time').first();
  const iso = (await received.getAttribute('datetime'))!;
  expect(iso).toMatch(/^\d{4}-\d{2}-\d{2}T/);
  expect(await received.innerText()).toBe(await page.evaluate(`new Date(${JSON.stringify(iso)}).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })`));
  expect(await page.getByRole('button', { name: 'Delete extension' }).isDisabled()).toBe(true);
  await audit('a read-only extension');
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
  await audit('a migration plan');
  await shot('migration');
  await page.getByRole('button', { name: 'Run migration' }).click();
  await page.getByText(/^Migration (done|failed): /).waitFor({ timeout: 15_000 });
  const results = await page.locator('#progress tbody tr td:nth-child(4)').allInnerTexts();
  expect(results).toHaveLength(actions.length);
  expect(results.every((r) => r === 'done')).toBe(true);
  await audit('a migration run');
});

it('drops a plan when its tenants change or a new plan fails, so Run never acts on the old tenants', async () => {
  await page.goto(`${gateway.url}/console/#/migrate`);
  await page.getByRole('heading', { name: 'Migration' }).waitFor();
  await page.getByLabel('From').selectOption('demo-vitalpbx');
  await page.getByLabel('To').selectOption('demo-voipbin');
  await page.getByRole('button', { name: 'Plan (dry run)' }).click();
  await page.getByRole('button', { name: 'Run migration' }).waitFor();
  // Changing an input takes the plan away at once.
  await page.getByLabel('To').selectOption('demo-vitalpbx');
  expect(await page.getByRole('button', { name: 'Run migration' }).count()).toBe(0);
  expect(await page.locator('#plan').innerText()).toBe('');
  // A plan made, then a failing one for the same form: only the problem is left.
  await page.getByLabel('To').selectOption('demo-voipbin');
  await page.getByRole('button', { name: 'Plan (dry run)' }).click();
  await page.getByRole('button', { name: 'Run migration' }).waitFor();
  await page.getByLabel('To').selectOption('demo-vitalpbx');
  await page.getByRole('button', { name: 'Plan (dry run)' }).click();
  await page.getByRole('alert').waitFor();
  expect(await page.getByRole('alert').innerText()).toMatch(/Not Implemented|not/i);
  expect(await page.getByRole('button', { name: 'Run migration' }).count()).toBe(0);
  expect(await page.locator('#plan table').count()).toBe(0);
  await audit('a migration refused');
});
