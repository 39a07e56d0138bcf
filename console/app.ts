/**
 * The pbx-gateway console: a small single-page app over the gateway's own unified API. Hash routes:
 * #/ tenants, #/t/<tenant> its extensions, #/t/<tenant>/e/<id> one extension's details, #/directory, #/migrate.
 * Controls a tenant's backend cannot serve are disabled with the reason shown beside them.
 */
import { api, session, type Capabilities, type Extension, type Tenant } from './api.js';
import { field, h, problemBox, problemOf, showProblem, table } from './dom.js';

const main = () => document.getElementById('main')!;
const status = (text: string) => (document.getElementById('status')!.textContent = text);
let tenants: Tenant[] = [];

function render(...nodes: (Node | string)[]): void {
  main().replaceChildren(...nodes);
  main().querySelector<HTMLElement>('h1')?.focus();
}

const heading = (text: string) => h('h1', { tabindex: '-1' }, text);
const why = (backend: string, what: string) => `not available: ${backend} does not support ${what} (the gateway answers 501 Not Implemented)`;
/** A field the backend cannot store: the gateway refuses it with 422 and the field's pointer. */
const cannotStore = (backend: string, what: string) => `not available: ${backend} cannot store ${what} (the gateway answers 422 Unprocessable Content)`;
const empty = (text: string) => h('p', { class: 'empty', role: 'status' }, text);
/** A time from the API (RFC 3339) in the browser's locale, the original kept in datetime. */
function when(iso: string | null | undefined): Node | string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return h('time', { datetime: iso }, d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }));
}

function capabilityList(c: Capabilities): string {
  const ops = Object.entries(c.extensions).filter(([, v]) => v).map(([k]) => k);
  const features = (['direct_uri', 'devices', 'queues', 'call_summary', 'voicemail', 'ring_groups'] as const).filter((f) => c[f]);
  return [...ops, ...features].join(', ');
}

// ---------- sign in

function signIn(message?: string): void {
  document.getElementById('nav')!.hidden = true;
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'signin-title' },
    field('API key', 'key', { type: 'password', autocomplete: 'off', required: true }),
    h('p', { class: 'hint' }, 'Kept in this browser tab only, and sent as Bearer to this gateway.'),
    h('button', { type: 'submit' }, 'Sign in'),
  ) as HTMLFormElement;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    session.set((form.elements.namedItem('key') as HTMLInputElement).value.trim());
    try {
      await loadTenants();
      location.hash = '#/';
      route();
    } catch (err) {
      session.clear();
      showProblem(form, err);
    }
  });
  render(h('h1', { id: 'signin-title', tabindex: '-1' }, 'Sign in to pbx-gateway'), message ? h('p', {}, message) : '', form);
}

async function loadTenants(): Promise<void> {
  tenants = (await api<{ items: Tenant[] }>('GET', '/v1/tenants')).items;
  document.getElementById('nav')!.hidden = false;
}

// ---------- tenants

async function tenantsView(): Promise<void> {
  const ready = await fetch('/readyz').then((r) => r.json() as Promise<{ tenants: { name: string; ready: boolean; problem?: { title: string } }[] }>).catch(() => ({ tenants: [] }));
  const up = new Map(ready.tenants.map((t) => [t.name, t]));
  render(
    heading('Tenants'),
    table(
      ['Tenant', 'Backend', 'Backend status', 'Capabilities'],
      tenants.map((t) => {
        const r = up.get(t.name);
        return [h('a', { href: `#/t/${encodeURIComponent(t.name)}` }, t.name), t.backend, r ? (r.ready ? 'up' : `down: ${r.problem?.title ?? 'no answer'}`) : 'unknown', capabilityList(t.capabilities)];
      }),
      'Tenants this key may use',
    ),
  );
}

// ---------- one tenant's extensions

async function tenantView(name: string, token?: string, q?: string): Promise<void> {
  const t = tenants.find((x) => x.name === name);
  if (!t) return render(heading('Unknown tenant'), problemBox({ type: '', title: 'Not found', status: 404, detail: `No tenant named ${name} for this key.` }));
  const c = t.capabilities;
  const page = q
    ? await api<{ items: Extension[]; next_page_token: string | null }>('GET', `/v1/extensions?tenant=${encodeURIComponent(name)}&q=${encodeURIComponent(q)}&page_size=25${token ? `&page_token=${token}` : ''}`)
    : await api<{ items: Extension[]; next_page_token: string | null }>('GET', `/v1/tenants/${encodeURIComponent(name)}/extensions?page_size=25${token ? `&page_token=${token}` : ''}`);
  const search = h('form', { role: 'search', class: 'inline' }, field('Search (number, name, user)', 'q', { type: 'search', value: q ?? '' }), h('button', { type: 'submit' }, 'Search')) as HTMLFormElement;
  search.addEventListener('submit', (e) => {
    e.preventDefault();
    void tenantView(name, undefined, (search.elements.namedItem('q') as HTMLInputElement).value.trim() || undefined);
  });
  const selectable = c.extensions.batch_delete;
  const rows = page.items.map((e) => [
    ...(selectable ? [h('input', { type: 'checkbox', name: 'sel', value: e.id, 'aria-label': `Select ${e.extension}` })] : []),
    h('a', { href: `#/t/${encodeURIComponent(name)}/e/${encodeURIComponent(e.id)}` }, e.extension),
    e.name,
    e.username ?? '',
    e.domain ?? '',
  ]);
  const batch = h('button', { type: 'button', disabled: !selectable, onclick: () => void batchDelete(name) }, 'Delete selected');
  render(
    heading(`Extensions of ${name}`),
    h('p', {}, `Backend: ${t.backend}. Can: ${capabilityList(c)}.`),
    search,
    rows.length
      ? table([...(selectable ? [h('span', { class: 'visually-hidden' }, 'Select')] : []), 'Extension', 'Name', 'SIP user', 'Domain'], rows, `Extensions of ${name}`)
      : empty(q ? `No extension of ${name} matches “${q}”.` : `${name} has no extensions.`),
    h('div', { class: 'row' }, page.next_page_token ? h('button', { type: 'button', onclick: () => void tenantView(name, page.next_page_token!, q) }, 'Next page') : h('span', {}, token ? 'Last page' : ''), batch, selectable ? '' : h('span', { class: 'reason' }, why(t.backend, 'batch delete'))),
    h('div', { id: 'batch-result' }),
    createForm(t),
    await ringGroups(t),
    await recentEvents(t),
  );
}

interface ChangeEvent {
  type: string;
  time: string;
  source: 'gateway' | 'pbx';
  key_id?: string;
  changed_fields?: string[];
  data: { id: string; extension?: string; name?: string };
}

/** The tenant's latest change events, newest first: the feed is read to its end (a bounded number of pages). */
async function recentEvents(t: Tenant): Promise<HTMLElement> {
  const title = h('h2', { id: 'events-title' }, 'Recent events');
  const section = (...nodes: (Node | string)[]) => h('section', { 'aria-labelledby': 'events-title' }, title, ...nodes);
  try {
    let latest: ChangeEvent[] = [];
    let after = '';
    for (let pages = 0; pages < 20; pages++) {
      const page = await api<{ events: ChangeEvent[]; next: string }>('GET', `/v1/events?tenant=${encodeURIComponent(t.name)}&limit=1000${after ? `&after=${after}` : ''}`);
      latest = [...latest, ...page.events].slice(-20);
      if (!page.events.length || page.next === after) break;
      after = page.next;
    }
    if (!latest.length) return section(empty(`No change of ${t.name} is recorded yet.`));
    const rows = latest.reverse().map((e) => [
      when(e.time),
      e.type,
      e.data.extension ?? e.data.id,
      e.data.name ?? '',
      e.source === 'gateway' ? `gateway${e.key_id ? ` (key ${e.key_id})` : ''}` : 'on the PBX',
      e.changed_fields?.join(', ') ?? '',
    ]);
    return section(table(['Time', 'Event', 'Number', 'Name', 'Made', 'Changed'], rows, `Recent events of ${t.name}, newest first`));
  } catch (err) {
    return section(problemBox(problemOf(err)));
  }
}

async function ringGroups(t: Tenant): Promise<HTMLElement> {
  const title = h('h2', { id: 'rg-title' }, 'Ring groups');
  if (!t.capabilities.ring_groups) return h('section', { 'aria-labelledby': 'rg-title' }, title, h('p', { class: 'reason' }, why(t.backend, 'ring groups')));
  try {
    const res = await api<{ items: { extension: string; name: string; strategy: string; ring_time: number | null; members: string[] }[] }>('GET', `/v1/tenants/${encodeURIComponent(t.name)}/ring-groups`);
    return h('section', { 'aria-labelledby': 'rg-title' }, title, table(['Number', 'Name', 'Strategy', 'Ring time (s)', 'Members'], res.items.map((g) => [g.extension, g.name, g.strategy, String(g.ring_time ?? ''), g.members.join(', ')]), 'Ring groups'));
  } catch (err) {
    return h('section', { 'aria-labelledby': 'rg-title' }, title, problemBox(problemOf(err)));
  }
}

async function batchDelete(tenant: string): Promise<void> {
  const ids = [...main().querySelectorAll<HTMLInputElement>('input[name=sel]:checked')].map((i) => i.value);
  const out = document.getElementById('batch-result')!;
  if (!ids.length) return void out.replaceChildren('Select extensions first.');
  try {
    const res = await api<{ results: { id: string; status: string; error?: { title: string; detail: string } }[] }>('DELETE', `/v1/tenants/${encodeURIComponent(tenant)}/extensions?ids=${ids.map(encodeURIComponent).join(',')}`);
    await tenantView(tenant);
    document.getElementById('batch-result')!.replaceChildren(table(['Id', 'Result'], res.results.map((r) => [r.id, r.error ? `${r.status}: ${r.error.title}` : r.status]), 'Batch delete results'));
    status(`Batch delete: ${res.results.filter((r) => r.status === 'deleted').length} of ${ids.length} deleted`);
  } catch (err) {
    out.replaceChildren(problemBox(problemOf(err)));
  }
}

function createForm(t: Tenant): HTMLElement {
  const c = t.capabilities;
  if (!c.extensions.create) return h('section', { 'aria-labelledby': 'create-title' }, h('h2', { id: 'create-title' }, 'New extension'), h('p', { class: 'reason' }, why(t.backend, 'creating extensions: its API is read-only')));
  const w = new Set(c.writable_fields);
  const form = h(
    'form',
    { class: 'card' },
    field(c.extensions.auto_number ? 'Number (leave empty to let the PBX pick)' : 'Number', 'extension', { required: !c.extensions.auto_number }),
    field('Name', 'name', { required: true }),
    w.has('description') ? field('Description', 'description') : h('p', { class: 'reason' }, cannotStore(t.backend, 'a description')),
    field('SIP password (leave empty to generate one)', 'password', { type: 'password', autocomplete: 'new-password' }),
    h('button', { type: 'submit' }, 'Create'),
  ) as HTMLFormElement;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body: Record<string, string> = {};
    for (const k of ['extension', 'name', 'description', 'password']) {
      const v = (form.elements.namedItem(k) as HTMLInputElement | null)?.value.trim();
      if (v) body[k] = v;
    }
    try {
      const created = await api<Extension>('POST', `/v1/tenants/${encodeURIComponent(t.name)}/extensions`, body);
      await tenantView(t.name);
      const pw = created.password ?? '';
      const copy = h('button', { type: 'button', onclick: () => void navigator.clipboard?.writeText(pw).then(() => status('Password copied')) }, 'Copy password');
      main().prepend(h('div', { class: 'notice', role: 'status' }, `Created ${created.extension}. Its SIP password, shown only now: `, h('code', { id: 'new-password' }, pw), ' ', copy));
    } catch (err) {
      showProblem(form, err);
    }
  });
  return h('section', { 'aria-labelledby': 'create-title' }, h('h2', { id: 'create-title' }, 'New extension'), form);
}

// ---------- one extension

async function extensionView(tenant: string, id: string): Promise<void> {
  const t = tenants.find((x) => x.name === tenant);
  if (!t) return render(heading('Unknown tenant'), problemBox({ type: '', title: 'Not found', status: 404, detail: `No tenant named ${tenant} for this key.` }));
  const c = t.capabilities;
  const base = `/v1/tenants/${encodeURIComponent(tenant)}/extensions/${encodeURIComponent(id)}`;
  let e: Extension;
  try {
    e = await api<Extension>('GET', base);
  } catch (err) {
    const p = problemOf(err);
    if (p.status !== 404) throw err;
    return render(heading('Extension not found'), h('p', {}, `${tenant} has no extension with the id ${id}: it may have been deleted.`), h('p', {}, h('a', { href: `#/t/${encodeURIComponent(tenant)}` }, `Back to ${tenant}`)));
  }
  const pwOut = h('span', { id: 'password-out' });
  const showPw = h('button', { type: 'button', onclick: async () => {
    try {
      pwOut.replaceChildren(h('code', {}, (await api<Extension>('GET', `${base}?include=password`)).password ?? '(none)'));
    } catch (err) {
      pwOut.replaceChildren(problemBox(problemOf(err)));
    }
  } }, 'Show password');
  const edit = h('form', { class: 'card' }, field('Name', 'name', { value: e.name, required: true }), c.writable_fields.includes('description') ? field('Description', 'description', { value: e.description ?? '' }) : '', field('New SIP password (leave empty to keep)', 'password', { type: 'password', autocomplete: 'new-password' }), h('button', { type: 'submit', disabled: !c.extensions.update }, 'Save')) as HTMLFormElement;
  edit.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const patch: Record<string, string | null> = {};
    const val = (k: string) => (edit.elements.namedItem(k) as HTMLInputElement | null)?.value.trim();
    if (val('name') !== e.name) patch.name = val('name') ?? '';
    if (val('description') !== undefined && val('description') !== (e.description ?? '')) patch.description = val('description') || null;
    if (val('password')) patch.password = val('password')!;
    try {
      await api('PATCH', base, patch);
      status('Saved');
      await extensionView(tenant, id);
    } catch (err) {
      showProblem(edit, err);
    }
  });
  const del = h('button', { type: 'button', class: 'danger', disabled: !c.extensions.delete, onclick: async () => {
    if (!confirm(`Delete extension ${e.extension}?`)) return;
    try {
      await api('DELETE', base);
      status(`Deleted ${e.extension}`);
      location.hash = `#/t/${encodeURIComponent(tenant)}`;
    } catch (err) {
      main().prepend(problemBox(problemOf(err)));
    }
  } }, 'Delete extension');
  const details: HTMLElement[] = [];
  const section = async (flag: keyof Capabilities, title: string, path: string, toRows: (d: never) => (Node | string | number | null)[][], cols: string[]) => {
    if (!c[flag]) return details.push(h('section', {}, h('h2', {}, title), h('p', { class: 'reason' }, why(t.backend, title.toLowerCase()))));
    try {
      const data = await api<never>('GET', `${base}/${path}`);
      const rows = toRows(data).map((r) => r.map((v) => (v instanceof Node ? v : String(v ?? ''))));
      details.push(h('section', {}, h('h2', {}, title), rows.length ? table(cols, rows, title) : empty(`No ${title.toLowerCase()}.`)));
    } catch (err) {
      details.push(h('section', {}, h('h2', {}, title), problemBox(problemOf(err))));
    }
  };
  type Items<T> = { items: T[] };
  await section('devices', 'Devices', 'devices', (d: Items<{ id: string; name: string; username: string; technology: string }>) => d.items.map((x) => [x.id, x.name, x.username, x.technology]), ['Id', 'Name', 'SIP user', 'Technology']);
  await section('queues', 'Queues', 'queues', (d: Items<{ name: string; penalty: number }>) => d.items.map((x) => [x.name, x.penalty]), ['Queue', 'Penalty']);
  await section('call_summary', 'Call summary', 'call-summary', (d: Record<string, number>) => [[d.local, d.incoming, d.outgoing, d.transit]], ['Local', 'Incoming', 'Outgoing', 'Transit']);
  await section('voicemail', 'Voicemail', 'voicemail', (d: Items<{ folder: string; caller_id: string; received_at: string; duration_s: number }>) => d.items.map((x) => [x.folder, x.caller_id, when(x.received_at), x.duration_s]), ['Folder', 'Caller', 'Received', 'Seconds']);
  render(
    heading(`Extension ${e.extension}`),
    h('p', {}, h('a', { href: `#/t/${encodeURIComponent(tenant)}` }, `Back to ${tenant}`)),
    table(['Name', 'SIP user', 'Domain', 'Direct URI'], [[e.name, e.username ?? '', e.domain ?? '', e.direct_uri ?? '']], 'Extension'),
    h('p', {}, showPw, ' ', pwOut),
    h('section', {}, h('h2', {}, 'Edit'), c.extensions.update ? edit : h('p', { class: 'reason' }, why(t.backend, 'updating extensions'))),
    h('p', {}, del, c.extensions.delete ? '' : h('span', { class: 'reason' }, why(t.backend, 'deleting extensions'))),
    ...details,
  );
}

// ---------- directory

const DIRECTORY_PAGE = 25;

async function directoryView(q = '', token?: string): Promise<void> {
  const form = h('form', { role: 'search', class: 'inline' }, field('Search every tenant', 'q', { type: 'search', value: q }), h('button', { type: 'submit' }, 'Search')) as HTMLFormElement;
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void directoryView((form.elements.namedItem('q') as HTMLInputElement).value.trim());
  });
  const nodes: (Node | string)[] = [heading('Directory'), form];
  if (q) {
    const res = await api<{ items: Extension[]; next_page_token: string | null; unavailable: { tenant: string; problem: { title: string } }[] }>('GET', `/v1/extensions?q=${encodeURIComponent(q)}&page_size=${DIRECTORY_PAGE}${token ? `&page_token=${encodeURIComponent(token)}` : ''}`);
    if (res.items.length) nodes.push(table(['Tenant', 'Extension', 'Name', 'SIP user'], res.items.map((e) => [e.tenant, h('a', { href: `#/t/${encodeURIComponent(e.tenant)}/e/${encodeURIComponent(e.id)}` }, e.extension), e.name, e.username ?? '']), 'Matches'));
    else nodes.push(empty(`No extension matches “${q}”.`));
    const pager = [
      token ? h('button', { type: 'button', onclick: () => void directoryView(q) }, 'First page') : '',
      res.next_page_token ? h('button', { type: 'button', onclick: () => void directoryView(q, res.next_page_token!) }, 'Next page') : '',
    ].filter((n) => n);
    if (pager.length) nodes.push(h('div', { class: 'row' }, ...pager));
    for (const u of res.unavailable) nodes.push(h('p', { class: 'reason' }, `${u.tenant} did not answer: ${u.problem.title}`));
  }
  render(...nodes);
}

// ---------- migration

interface PlanItem { row: number; extension: string | null; action: string; reason?: string; lossy?: string[]; changes?: Record<string, { from: unknown; to: unknown }> }

function migrateView(): void {
  const options = (filter: (t: Tenant) => boolean) => tenants.filter(filter).map((t) => h('option', { value: t.name }, `${t.name} (${t.backend})`));
  const select = (label: string, name: string, opts: HTMLElement[]) => {
    const id = `m-${name}`;
    return h('div', { class: 'field' }, h('label', { for: id }, label), h('select', { id, name }, ...opts));
  };
  const form = h('form', { class: 'card' }, select('From', 'from', options((t) => t.capabilities.extensions.list)), select('To', 'to', options(() => true)), h('button', { type: 'submit' }, 'Plan (dry run)')) as HTMLFormElement;
  const out = h('div', { id: 'plan' });
  // A plan belongs to the tenants it was made for: changing them, or a new plan failing, takes it (and its Run) away.
  const clear = () => {
    out.replaceChildren();
    form.querySelector('.problem')?.remove();
  };
  form.addEventListener('change', clear);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear();
    const from = (form.elements.namedItem('from') as HTMLSelectElement).value;
    const to = (form.elements.namedItem('to') as HTMLSelectElement).value;
    try {
      const plan = await api<{ summary: Record<string, number>; items: PlanItem[] }>('POST', '/v1/migrations', { from, to, dry_run: true });
      const lossy = [...new Set(plan.items.flatMap((i) => i.lossy ?? []))];
      const accept = lossy.map((f) => h('label', {}, h('input', { type: 'checkbox', name: 'accept', value: f }), ` accept losing ${f}`));
      const run = h('button', { type: 'button', onclick: () => void runMigration(from, to, [...out.querySelectorAll<HTMLInputElement>('input[name=accept]:checked')].map((i) => i.value)) }, 'Run migration');
      out.replaceChildren(
        h('p', { role: 'status' }, `Plan: ${Object.entries(plan.summary).map(([k, v]) => `${v} ${k}`).join(', ')}`),
        table(['Row', 'Extension', 'Action', 'Lossy', 'Detail'], plan.items.map((i) => [String(i.row), i.extension ?? '', h('span', { class: `action ${i.action}` }, i.action), (i.lossy ?? []).join(', '), i.changes ? Object.entries(i.changes).map(([f, c]) => `${f}: ${String(c.from)} → ${String(c.to)}`).join('; ') : (i.reason ?? '')]), 'Migration plan'),
        ...accept,
        run,
        h('div', { id: 'progress', 'aria-live': 'polite' }),
      );
    } catch (err) {
      out.replaceChildren();
      showProblem(form, err);
    }
  });
  render(heading('Migration'), form, out);
}

async function runMigration(from: string, to: string, acceptLoss: string[]): Promise<void> {
  const progress = document.getElementById('progress')!;
  try {
    type Result = { row: number; extension: string | null; action: string; status: string; error?: { title: string; detail: string } };
    let m = await api<{ id: string; status: string; progress: { total: number; done: number; failed: number; skipped: number }; results: Result[] }>('POST', '/v1/migrations', { from, to, dry_run: false, accept_loss: acceptLoss });
    while (m.status === 'running') {
      progress.replaceChildren(
        h('progress', { max: String(m.progress.total), value: String(m.progress.done + m.progress.failed + m.progress.skipped), 'aria-label': 'Migration progress' }),
        ` ${m.progress.done} done of ${m.progress.total}`,
        table(['Row', 'Extension', 'Result'], m.results.map((r) => [String(r.row), r.extension ?? '', r.status]), 'Items finished so far'),
      );
      await new Promise((r) => setTimeout(r, 300));
      m = await api('GET', `/v1/migrations/${m.id}`);
    }
    progress.replaceChildren(
      h('p', {}, `Migration ${m.status}: ${m.progress.done} done, ${m.progress.failed} failed, ${m.progress.skipped} skipped.`),
      table(['Row', 'Extension', 'Action', 'Result'], m.results.map((r) => [String(r.row), r.extension ?? '', r.action, r.error ? `${r.status}: ${r.error.title}: ${r.error.detail}` : r.status]), 'Migration results'),
    );
  } catch (err) {
    progress.replaceChildren(problemBox(problemOf(err)));
  }
}

// ---------- routing

async function route(): Promise<void> {
  if (!session.key) return signIn();
  try {
    if (!tenants.length) await loadTenants();
    const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
    if (parts[0] === 't' && parts[2] === 'e') await extensionView(parts[1], parts[3]);
    else if (parts[0] === 't') await tenantView(parts[1]);
    else if (parts[0] === 'directory') await directoryView();
    else if (parts[0] === 'migrate') migrateView();
    else await tenantsView();
  } catch (err) {
    const p = problemOf(err);
    if (p.status === 401) {
      session.clear();
      return signIn('The key was refused: sign in again.');
    }
    render(heading('Something failed'), problemBox(p));
  }
}

document.getElementById('signout')!.addEventListener('click', () => {
  session.clear();
  tenants = [];
  location.hash = '#/';
  signIn();
});
window.addEventListener('hashchange', () => void route());
void route();
