/**
 * The conformance suite: one live tenant checked through the gateway's own API. Which checks run is decided by
 * what the tenant says about itself (its capabilities, from the probe), never by its vendor's name; a check
 * that cannot apply is declared skipped with the reason in its name.
 *
 * Read-only by default. With a write range, the suite creates, changes and deletes extensions and ring groups
 * only at free numbers inside that range, compares each record in full (`?view=full`, the backend's own fields)
 * before and after every change, and removes everything it created, even when a check fails.
 */
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import type { Capabilities } from '../../schemas/types';
import { validators } from '../../src/schemas';
import { describeChange, diffRecords, isTimestampBump, judgeRefusal, secretLookingSettings, unaskedChanges, unnamedChanges, type AskedChange, type Change } from './diff';
import { buildGateway, clock, CLOCK_JUMPS_MS, sessionEvents, uninstallClock, type ConformanceGateway, type GatewaySpec, type Scope } from './gateway';
import type { Facts } from './probe';

export interface WriteRange {
  from: number;
  to: number;
}

export interface Target {
  spec: GatewaySpec;
  facts: Facts;
  /** Numbers the suite may create, change and delete; none: read-only. */
  write?: WriteRange;
  /** Allow the create without a number: the backend picks it, maybe outside the range (deleted at once). */
  autoNumber?: boolean;
  /**
   * Give an extension the suite created settings the gateway cannot write (out of band, with the backend's own
   * API), so that a write which loses them shows it. Run before every change; answers the vendor paths it set.
   */
  enrich?: (number: string) => Promise<string[]>;
  /** Per check; real PBXes are slower than simulators. */
  timeoutMs?: number;
}

type Json = Record<string, unknown>;
type Res = request.Response;

const SAMPLE = 3;
const SUB_RESOURCES = [
  { feature: 'devices', path: 'devices', list: true, validate: validators.device },
  { feature: 'queues', path: 'queues', list: true, validate: validators.queue },
  { feature: 'call_summary', path: 'call-summary', list: false, validate: validators.callSummary },
  { feature: 'voicemail', path: 'voicemail', list: true, validate: validators.voicemailMessage },
] as const;

export function problemText(res: Res): string {
  const b = res.body as { type?: unknown; detail?: unknown; errors?: { pointer: string; detail: string }[] } | undefined;
  const type = typeof b?.type === 'string' ? ` ${b.type}` : '';
  const detail = typeof b?.detail === 'string' ? `: ${b.detail}` : '';
  const errors = Array.isArray(b?.errors) && b.errors.length ? ` [${b.errors.map((e) => `${e.pointer} ${e.detail}`).join('; ')}]` : '';
  return `HTTP ${res.status}${type}${detail}${errors}`;
}

/** Fail with every problem found, one per line. */
function report(problems: string[]): void {
  if (problems.length) throw new Error(problems.join('\n'));
}

function expectStatus(res: Res, status: number, what: string): void {
  if (res.status !== status) throw new Error(`${what}: expected HTTP ${status}, got ${problemText(res)}`);
}

function schemaFaults(validate: { (v: unknown): boolean; errors?: { instancePath: string; message?: string }[] | null }, v: unknown): string | null {
  if (validate(v)) return null;
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`.trim()).join('; ');
}

/** An id of the same shape as a real one (digits for digits, hex letters for hex letters) that names nothing. */
export function unknownIdLike(ids: readonly string[]): string {
  const taken = new Set(ids);
  const model = ids[0] ?? '999999';
  for (let i = 0; i < 100; i++) {
    const candidate = model.replace(/[0-9]/g, () => String(randomBytes(1)[0] % 10)).replace(/[a-f]/g, () => 'abcdef'[randomBytes(1)[0] % 6]).replace(/[A-F]/g, () => 'ABCDEF'[randomBytes(1)[0] % 6]);
    if (!taken.has(candidate) && candidate !== model) return candidate;
  }
  return `${model}0`;
}

const newPassword = () => `Cnf${randomBytes(12).toString('hex')}`;

const human = (ms: number) => (ms >= 3600_000 ? `${Math.round(ms / 3600_000)} h` : `${Math.round(ms / 60_000)} min`);

/** Fields of an extension other than these are compared by the list/get consistency check. */
const CANONICAL_ONLY = (e: Json) => {
  const { vendor: _v, password: _p, ...rest } = e;
  return rest;
};

export function describeConformance(target: Target): void {
  const { spec, facts } = target;
  const timeout = target.timeoutMs ?? 30_000;
  const tenantPath = `/v1/tenants/${encodeURIComponent(spec.tenant)}`;

  describe(`conformance: ${spec.label}`, () => {
    if (!facts.ok || !facts.capabilities) {
      it('reaches the tenant through the gateway', () => {
        throw new Error(`${spec.label}: ${facts.error ?? 'the probe found no capabilities'}`);
      });
      return;
    }
    const caps: Capabilities = facts.capabilities;
    const ops = caps.extensions;
    const count = facts.extensions ?? 0;
    const writeBlocked = !target.write
      ? `read-only run (give --write <from>-<to> to check creates, changes and deletes inside that range)`
      : !(ops.list && ops.get && ops.create && ops.delete)
        ? `the tenant cannot list, get, create and delete extensions (capabilities.extensions: list=${ops.list}, get=${ops.get}, create=${ops.create}, delete=${ops.delete})`
        : null;
    const scopes: Scope[] = writeBlocked ? ['read'] : ['read', 'write', 'secrets'];

    let gw: ConformanceGateway;
    const notes: string[] = [];
    const note = (s: string) => notes.push(s);
    const api = () => request(gw.url);
    const get = (path: string, query: Json = {}) => api().get(path).query(query).set(gw.auth);

    beforeAll(async () => {
      gw = await buildGateway(spec, scopes);
    }, timeout);
    afterAll(async () => {
      await gw?.close();
      uninstallClock();
      if (notes.length) console.info(`conformance notes for ${spec.label}:\n${notes.map((n) => `  - ${n}`).join('\n')}`);
    }, timeout);

    /** Every extension, page by page (page_size 500). */
    async function listAll(query: Json = {}): Promise<Json[]> {
      const items: Json[] = [];
      let token: string | null = null;
      for (let page = 0; page < 1000; page++) {
        const res: Res = await get(`${tenantPath}/extensions`, { page_size: 500, ...query, ...(token ? { page_token: token } : {}) });
        expectStatus(res, 200, `GET ${tenantPath}/extensions`);
        items.push(...(res.body.items as Json[]));
        token = res.body.next_page_token;
        if (!token) return items;
      }
      throw new Error(`GET ${tenantPath}/extensions: still not at the end after 1000 pages of 500`);
    }

    describe(`tenant ${spec.tenant} (backend ${facts.backend}): read-only checks`, () => {
      let listed: Json[] = [];

      it('describes the tenant: GET /v1/tenants/{tenant} is valid, and its capabilities are the ones this run was planned with', async () => {
        const res = await get(tenantPath);
        expectStatus(res, 200, `GET ${tenantPath}`);
        const problems: string[] = [];
        const fault = schemaFaults(validators.tenant, res.body);
        if (fault) problems.push(`the tenant answer does not match schemas/tenant.schema.json: ${fault}`);
        if (res.body.name !== spec.tenant) problems.push(`name is ${JSON.stringify(res.body.name)}, not ${JSON.stringify(spec.tenant)}`);
        for (const c of diffRecords(facts.capabilities, res.body.capabilities)) problems.push(`capabilities changed since the probe: ${describeChange(c)}`);
        report(problems);
      }, timeout);

      if (!ops.list) {
        it('answers 501 unsupported for the list, as capabilities.extensions.list=false says', async () => {
          const res = await get(`${tenantPath}/extensions`);
          expectStatus(res, 501, `GET ${tenantPath}/extensions`);
          if (res.body.type !== '/problems/unsupported') throw new Error(`the 501 is ${problemText(res)}, not /problems/unsupported`);
        }, timeout);
      } else {
        it('lists extensions: every item valid, with no password and no vendor fields unless asked, ids unique', async () => {
          listed = await listAll();
          const problems: string[] = [];
          const ids = new Set<string>();
          for (const e of listed) {
            const fault = schemaFaults(validators.extension, e);
            if (fault) problems.push(`extension ${String(e.id)} (${String(e.extension)}) does not match schemas/extension.schema.json: ${fault}`);
            if ('password' in e) problems.push(`extension ${String(e.id)} carries a password in a list not asked for one`);
            if ('vendor' in e) problems.push(`extension ${String(e.id)} carries vendor fields in a list without view=full`);
            if (e.tenant !== spec.tenant) problems.push(`extension ${String(e.id)} names tenant ${JSON.stringify(e.tenant)}`);
            if (ids.has(String(e.id))) problems.push(`id ${String(e.id)} is listed twice`);
            ids.add(String(e.id));
          }
          report(problems);
        }, timeout);

        it('walks every page with page_size=2: no empty page, no item twice, next_page_token null at the end, the same extensions as one big page', async () => {
          const all = await listAll();
          const problems: string[] = [];
          const seen = new Map<string, number>();
          let token: string | null = null;
          let pages = 0;
          let last: Res | undefined;
          const maxPages = Math.ceil(all.length / 2) + 5;
          do {
            last = await get(`${tenantPath}/extensions`, { page_size: 2, ...(token ? { page_token: token } : {}) });
            expectStatus(last, 200, `GET ${tenantPath}/extensions?page_size=2 (page ${pages + 1})`);
            pages++;
            const items = last.body.items as Json[];
            if (items.length === 0 && (pages > 1 || all.length > 0)) problems.push(`page ${pages} is empty${pages > 1 ? ': the previous page handed out a token that leads nowhere' : ''}`);
            if (items.length > 2) problems.push(`page ${pages} has ${items.length} items for page_size=2`);
            for (const e of items) {
              const id = String(e.id);
              if (seen.has(id)) problems.push(`extension ${id} (${String(e.extension)}) is on page ${seen.get(id)} and again on page ${pages}`);
              else seen.set(id, pages);
            }
            token = last.body.next_page_token;
            if (token !== null && typeof token !== 'string') problems.push(`page ${pages} has next_page_token ${JSON.stringify(token)}: neither a string nor null`);
          } while (typeof token === 'string' && pages < maxPages);
          if (typeof token === 'string') problems.push(`still not at the end after ${pages} pages of 2 for ${all.length} extensions`);
          else if (last.body.next_page_token !== null) problems.push(`the last page's next_page_token is ${JSON.stringify(last.body.next_page_token)}, not null`);
          const big = new Set(all.map((e) => String(e.id)));
          const missing = [...big].filter((id) => !seen.has(id));
          const extra = [...seen.keys()].filter((id) => !big.has(id));
          if (missing.length) problems.push(`pages of 2 miss ${missing.length} extension(s) a page of 500 lists: ${missing.slice(0, 10).join(', ')}`);
          if (extra.length) problems.push(`pages of 2 list ${extra.length} extension(s) a page of 500 does not: ${extra.slice(0, 10).join(', ')}`);
          if (!missing.length && !extra.length && all.length > 0 && pages !== Math.ceil(all.length / 2)) problems.push(`${all.length} extensions took ${pages} pages of 2, expected ${Math.ceil(all.length / 2)}`);
          report(problems);
        }, Math.max(timeout, Math.ceil(count / 2) * 2000)); // one call per page: a large tenant takes a while

        it('answers view=full on the list: every item has its vendor record, with no password and no secret-named setting', async () => {
          const res = await get(`${tenantPath}/extensions`, { page_size: 50, view: 'full' });
          expectStatus(res, 200, `GET ${tenantPath}/extensions?view=full`);
          const problems: string[] = [];
          for (const e of res.body.items as Json[]) {
            if (typeof e.vendor !== 'object' || e.vendor === null || Array.isArray(e.vendor)) problems.push(`extension ${String(e.id)} has no vendor object with view=full`);
            if ('password' in e) problems.push(`extension ${String(e.id)} carries a password with view=full`);
            const secrets = secretLookingSettings(e.vendor, 'vendor');
            if (secrets.length) problems.push(`extension ${String(e.id)}: vendor holds secret-named settings with values: ${secrets.join(', ')}`);
          }
          report(problems);
        }, timeout);
      }

      const canSample = ops.list && count > 0;
      const noSample = !ops.list ? 'the tenant cannot list extensions to pick some' : 'the tenant lists no extensions';
      const sample = async (): Promise<Json[]> => (listed.length ? listed : await listAll()).slice(0, SAMPLE);

      if (!ops.get) {
        it('answers 501 unsupported for a get, as capabilities.extensions.get=false says', async () => {
          const res = await get(`${tenantPath}/extensions/${encodeURIComponent(unknownIdLike([]))}`);
          expectStatus(res, 501, 'GET one extension');
        }, timeout);
      } else if (!canSample) {
        it.skip(`gets each of a few extensions: skipped: ${noSample}`, () => undefined);
      } else {
        it(`gets each of the first ${SAMPLE} extensions: valid, the same as in the list; view=full adds vendor fields without secrets`, async () => {
          const problems: string[] = [];
          for (const item of await sample()) {
            const path = `${tenantPath}/extensions/${encodeURIComponent(String(item.id))}`;
            const one = await get(path);
            expectStatus(one, 200, `GET ${path}`);
            const fault = schemaFaults(validators.extension, one.body);
            if (fault) problems.push(`${path} does not match schemas/extension.schema.json: ${fault}`);
            for (const c of diffRecords(CANONICAL_ONLY(item), CANONICAL_ONLY(one.body))) problems.push(`${path} differs from its list item: ${describeChange(c)}`);
            if ('password' in one.body || 'vendor' in one.body) problems.push(`${path} carries ${'password' in one.body ? 'a password' : 'vendor fields'} not asked for`);
            const full = await get(path, { view: 'full' });
            expectStatus(full, 200, `GET ${path}?view=full`);
            if (typeof full.body.vendor !== 'object' || full.body.vendor === null) problems.push(`${path}?view=full has no vendor object`);
            if ('password' in full.body) problems.push(`${path}?view=full carries a password`);
            const secrets = secretLookingSettings(full.body.vendor, 'vendor');
            if (secrets.length) problems.push(`${path}?view=full: vendor holds secret-named settings with values: ${secrets.join(', ')}`);
            for (const c of diffRecords(CANONICAL_ONLY(one.body), CANONICAL_ONLY(full.body))) problems.push(`${path}?view=full differs from the plain get: ${describeChange(c)}`);
          }
          report(problems);
        }, timeout);
      }

      for (const sub of SUB_RESOURCES) {
        const has = caps[sub.feature];
        if (!has) {
          it(`answers 501 unsupported for ${sub.path}, as capabilities.${sub.feature}=false says`, async () => {
            const id = canSample ? String((await sample())[0].id) : unknownIdLike([]);
            const path = `${tenantPath}/extensions/${encodeURIComponent(id)}/${sub.path}`;
            const res = await get(path);
            expectStatus(res, 501, `GET ${path}`);
            if (res.body.type !== '/problems/unsupported') throw new Error(`GET ${path}: the 501 is ${problemText(res)}, not /problems/unsupported`);
          }, timeout);
        } else if (!canSample) {
          it.skip(`reads ${sub.path} of a few extensions: skipped: ${noSample}`, () => undefined);
        } else {
          it(`reads ${sub.path} of each of the first ${SAMPLE} extensions (capabilities.${sub.feature}=true): valid answers${sub.feature === 'devices' ? ', no password unless asked' : ''}`, async () => {
            const problems: string[] = [];
            for (const item of await sample()) {
              const path = `${tenantPath}/extensions/${encodeURIComponent(String(item.id))}/${sub.path}`;
              const res = await get(path);
              expectStatus(res, 200, `GET ${path}`);
              const values: unknown[] = sub.list ? (Array.isArray(res.body.items) ? res.body.items : [null]) : [res.body];
              if (sub.list && !Array.isArray(res.body.items)) problems.push(`${path} has no items list`);
              values.forEach((v, i) => {
                const fault = schemaFaults(sub.validate, v);
                if (fault) problems.push(`${path}${sub.list ? ` item ${i}` : ''} does not match its schema: ${fault}`);
                if (sub.feature === 'devices' && v && typeof v === 'object' && 'password' in v) problems.push(`${path} item ${i} carries a password not asked for`);
              });
            }
            report(problems);
          }, timeout);
        }
      }

      if (!caps.ring_groups) {
        it('answers 501 unsupported for ring groups, as capabilities.ring_groups=false says', async () => {
          const res = await get(`${tenantPath}/ring-groups`);
          expectStatus(res, 501, `GET ${tenantPath}/ring-groups`);
          if (res.body.type !== '/problems/unsupported') throw new Error(`the 501 is ${problemText(res)}, not /problems/unsupported`);
        }, timeout);
      } else {
        it(`reads ring groups: the list valid, view=full with vendor records, each of the first ${SAMPLE} by id the same as listed, 404 for an unknown id`, async () => {
          const res = await get(`${tenantPath}/ring-groups`);
          expectStatus(res, 200, `GET ${tenantPath}/ring-groups`);
          const problems: string[] = [];
          const items = res.body.items as Json[];
          for (const g of items) {
            const fault = schemaFaults(validators.ringGroup, g);
            if (fault) problems.push(`ring group ${String(g.id)} does not match schemas/ring-group.schema.json: ${fault}`);
            if ('vendor' in g) problems.push(`ring group ${String(g.id)} carries vendor fields without view=full`);
          }
          const full = await get(`${tenantPath}/ring-groups`, { view: 'full' });
          expectStatus(full, 200, `GET ${tenantPath}/ring-groups?view=full`);
          for (const g of full.body.items as Json[]) {
            if (typeof g.vendor !== 'object' || g.vendor === null) problems.push(`ring group ${String(g.id)} has no vendor object with view=full`);
            const secrets = secretLookingSettings(g.vendor, 'vendor');
            if (secrets.length) problems.push(`ring group ${String(g.id)}: vendor holds secret-named settings with values: ${secrets.join(', ')}`);
          }
          for (const g of items.slice(0, SAMPLE)) {
            const path = `${tenantPath}/ring-groups/${encodeURIComponent(String(g.id))}`;
            const one = await get(path);
            expectStatus(one, 200, `GET ${path}`);
            for (const c of diffRecords(g, one.body)) problems.push(`${path} differs from its list item: ${describeChange(c)}`);
          }
          const unknown = unknownIdLike(items.map((g) => String(g.id)));
          const missing = await get(`${tenantPath}/ring-groups/${encodeURIComponent(unknown)}`);
          if (missing.status !== 404 || missing.body.type !== '/problems/not-found') problems.push(`GET ring group ${unknown} (no such id): expected 404 /problems/not-found, got ${problemText(missing)}`);
          report(problems);
        }, timeout);
      }

      if (ops.get) {
        it('answers 404 /problems/not-found (as problem+json) for an id of the usual shape that names nothing, and for one that cannot exist', async () => {
          const ids = ops.list ? (listed.length ? listed : await listAll()).map((e) => String(e.id)) : [];
          const problems: string[] = [];
          for (const id of [unknownIdLike(ids), 'conformance-no-such-id']) {
            const path = `${tenantPath}/extensions/${encodeURIComponent(id)}`;
            const res = await get(path);
            if (res.status !== 404 || res.body.type !== '/problems/not-found') problems.push(`GET ${path}: expected 404 /problems/not-found, got ${problemText(res)}`);
            else if (!/^application\/problem\+json/.test(String(res.headers['content-type']))) problems.push(`GET ${path}: the 404 is ${String(res.headers['content-type'])}, not application/problem+json`);
            else {
              const fault = schemaFaults(validators.problem, res.body);
              if (fault) problems.push(`GET ${path}: the 404 does not match schemas/problem.schema.json: ${fault}`);
            }
          }
          report(problems);
        }, timeout);
      }

      const authCall = () => get(ops.list ? `${tenantPath}/extensions` : `${tenantPath}/extensions/${encodeURIComponent(unknownIdLike([]))}`, ops.list ? { page_size: 500 } : {});
      const authAnswer = (res: Res) => (ops.list ? JSON.stringify((res.body.items as Json[]).map((e) => e.id)) : String(res.status));
      if (facts.renewalJumpMs != null) {
        const jump = facts.renewalJumpMs;
        it(`auth renewal: with the gateway clock ${human(jump)} ahead, the backend session is renewed (or logged in again) and answers stay the same`, async () => {
          const before = await authCall();
          if (before.status >= 500) throw new Error(`before moving the clock: ${problemText(before)}`);
          const events = sessionEvents((await api().get('/metrics')).text, spec.tenant);
          let after: Res;
          try {
            clock.offsetMs = jump;
            after = await authCall();
          } finally {
            clock.offsetMs = 0;
          }
          const now = sessionEvents((await api().get('/metrics')).text, spec.tenant);
          const problems: string[] = [];
          if (after.status !== before.status) problems.push(`after moving the clock ${human(jump)} ahead the answer is ${problemText(after)}, before it was HTTP ${before.status}`);
          else if (authAnswer(after) !== authAnswer(before)) problems.push(`after moving the clock ${human(jump)} ahead the extensions listed differ from before`);
          if (now.login + now.renewal <= events.login + events.renewal) problems.push(`moving the clock ${human(jump)} ahead caused no renewal or login this time (the probe saw one)`);
          report(problems);
          note(`auth renewal forced with the clock ${human(jump)} ahead: ${now.renewal - events.renewal} renewal(s), ${now.login - events.login} login(s)`);
        }, timeout);
      } else {
        const far = CLOCK_JUMPS_MS[CLOCK_JUMPS_MS.length - 1];
        it.skip(`auth renewal: cannot be forced on this tenant: moving the gateway clock up to ${human(far)} ahead caused no backend login or renewal (its credentials do not expire with time, e.g. an access key or app key)`, () => undefined);
        it(`auth: still answers the same with the gateway clock ${human(far)} ahead`, async () => {
          const before = await authCall();
          let after: Res;
          try {
            clock.offsetMs = far;
            after = await authCall();
          } finally {
            clock.offsetMs = 0;
          }
          if (after.status !== before.status || authAnswer(after) !== authAnswer(before)) throw new Error(`with the clock ${human(far)} ahead: ${problemText(after)} (before: HTTP ${before.status})`);
        }, timeout);
      }
    });

    if (writeBlocked) {
      describe.skip(`tenant ${spec.tenant}: writes: skipped: ${writeBlocked}`, () => {
        it('creates, changes and deletes extensions and ring groups inside the write range', () => undefined);
      });
    } else {
      describeWrites(target, caps, () => gw, listAll, note, timeout);
    }
  });
}

/** What the suite made: deleted in afterAll whatever happened. */
interface Made {
  id: string;
  number: string;
  password: string;
}

function describeWrites(target: Target, caps: Capabilities, gwOf: () => ConformanceGateway, listAll: (q?: Json) => Promise<Json[]>, note: (s: string) => void, timeout: number): void {
  const { spec } = target;
  const range = target.write!;
  const ops = caps.extensions;
  const tenantPath = `/v1/tenants/${encodeURIComponent(spec.tenant)}`;
  const inRange = (n: unknown) => typeof n === 'string' && /^\d+$/.test(n) && Number(n) >= range.from && Number(n) <= range.to;
  const api = () => request(gwOf().url);
  const auth = () => gwOf().auth;
  const extPath = (id: string) => `${tenantPath}/extensions/${encodeURIComponent(id)}`;
  const rgPath = (id: string) => `${tenantPath}/ring-groups/${encodeURIComponent(id)}`;
  const descWritable = caps.writable_fields.includes('description');

  const s = {
    free: [] as string[],
    attempted: new Set<string>(),
    attemptedGroups: new Set<string>(),
    createdIds: new Set<string>(),
    createdGroups: new Set<string>(),
    passwords: [] as string[],
    outside: new Map<string, Json>(),
    main: undefined as Made | undefined,
    member: undefined as Made | undefined,
    gone: undefined as string | undefined,
    group: undefined as string | undefined,
    /** Timestamps that moved with the writes (bookkeeping, not counted as changes). */
    timestamps: new Set<string>(),
  };
  const secrets = () => s.passwords;

  async function listGroups(view = false): Promise<Json[]> {
    if (!caps.ring_groups) return [];
    const res = await api().get(`${tenantPath}/ring-groups`).query(view ? { view: 'full' } : {}).set(auth());
    expectStatus(res, 200, `GET ${tenantPath}/ring-groups`);
    return res.body.items as Json[];
  }

  /** Take the next free number in the range. */
  function nextFree(what: string): string {
    const n = s.free.shift();
    if (n === undefined) throw new Error(`no free number left in ${range.from}-${range.to} for ${what}`);
    return n;
  }

  /** Create at a free number in the range; a number taken by something the list does not show (409) is passed over. */
  async function createInRange(label: string, extra: Json = {}): Promise<{ made: Made; res: Res }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const number = nextFree(label);
      s.attempted.add(number);
      const password = newPassword();
      s.passwords.push(password);
      const res = await api().post(`${tenantPath}/extensions`).set(auth()).send({ extension: number, name: `Conformance ${number} ${label}`, password, ...extra });
      if (res.status === 409) {
        note(`number ${number} is taken by something the extension list does not show (${problemText(res)}); the next free number was used`);
        continue;
      }
      expectStatus(res, 201, `POST ${tenantPath}/extensions with extension ${number}`);
      s.createdIds.add(String(res.body.id));
      return { made: { id: String(res.body.id), number, password }, res };
    }
    throw new Error(`5 free numbers in a row were refused as taken (409): is ${range.from}-${range.to} in use by something else?`);
  }

  const need = (m: Made | undefined, what: string): Made => {
    if (!m) throw new Error(`not run: ${what} was not created (see the create check above)`);
    return m;
  };

  const readExt = async (id: string): Promise<Json> => {
    const res = await api().get(extPath(id)).query({ view: 'full' }).set(auth());
    expectStatus(res, 200, `GET ${extPath(id)}?view=full`);
    return res.body as Json;
  };
  const readGroup = async (id: string): Promise<Json> => {
    const res = await api().get(rgPath(id)).query({ view: 'full' }).set(auth());
    expectStatus(res, 200, `GET ${rgPath(id)}?view=full`);
    return res.body as Json;
  };

  /** Give the extension the settings the target adds out of band, and check they show before the write. */
  async function enrich(m: Made): Promise<void> {
    if (!target.enrich) return;
    const paths = await target.enrich(m.number);
    const record = await readExt(m.id);
    const missing = paths.filter((p) => {
      const v = p.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Json)[k] : undefined), record);
      return v === undefined || v === null || v === '' || v === 'no';
    });
    if (missing.length) throw new Error(`the settings added to ${m.number} out of band do not show in its view=full record: ${missing.join(', ')}`);
  }

  /**
   * One change, checked against the whole record before and after. A 200 must change nothing but what was asked
   * (and timestamps). A 409 settings-would-be-lost refusal passes only when it names what would be lost and
   * leaves the record as it was; the suite then accepts exactly those losses by name (`accept_loss`, on its own
   * extension) and checks that the write changes nothing the refusal did not name.
   */
  async function checkedWrite(c: {
    what: string;
    read: () => Promise<Json>;
    write: (query?: Json) => Promise<Res>;
    asked: (before: Json) => Record<string, AskedChange>;
    verify?: (after: Json, res: Res) => Promise<string[]>;
  }): Promise<'applied' | 'accepted'> {
    const before = await c.read();
    const res = await c.write();
    const problems: string[] = [];
    const listChanges = (xs: Change[]) => xs.map((x) => `  ${describeChange(x, secrets())}`).join('\n');
    const type = typeof res.body?.type === 'string' ? (res.body.type as string) : '';
    if (res.status === 409 && type.endsWith('/problems/settings-would-be-lost')) {
      const refusal = judgeRefusal(c.what, res.body, before, await c.read(), secrets());
      report(refusal.problems);
      const accepted = await c.write({ accept_loss: refusal.names.join(',') });
      if (accepted.status !== 200) throw new Error(`${refusal.summary}\nsent again with accept_loss=${refusal.names.join(',')}, it answered ${problemText(accepted)}`);
      const after = await c.read();
      const { unnamed, accepted: lostNow, timestamps } = unnamedChanges(before, after, c.asked(before), refusal.names);
      if (unnamed.length) problems.push(`${refusal.summary}\nbut with accept_loss=${refusal.names.join(',')} it changed ${unnamed.length} setting(s) the refusal did not name:\n${listChanges(unnamed)}`);
      if (c.verify) problems.push(...(await c.verify(after, accepted)));
      report(problems);
      timestamps.forEach((x) => s.timestamps.add(x.path));
      note(`${refusal.summary}; accepted by name, it then changed what it asked and ${lostNow.length ? lostNow.map((x) => x.path).join(', ') : 'nothing else visible'}`);
      return 'accepted';
    }
    expectStatus(res, 200, c.what);
    const after = await c.read();
    const { unasked, timestamps } = unaskedChanges(before, after, c.asked(before));
    if (unasked.length) problems.push(`${c.what} changed ${unasked.length} setting(s) it did not ask to change:\n${listChanges(unasked)}`);
    if (c.verify) problems.push(...(await c.verify(after, res)));
    report(problems);
    timestamps.forEach((x) => s.timestamps.add(x.path));
    return 'applied';
  }

  describe(`tenant ${spec.tenant}: writes inside ${range.from}-${range.to}`, () => {
    beforeAll(async () => {
      const exts = await listAll({ view: 'full' });
      const groups = await listGroups(true);
      const taken = new Set([...exts.map((e) => String(e.extension)), ...groups.map((g) => String(g.extension))]);
      for (const e of exts) if (!inRange(e.extension)) s.outside.set(`extension ${String(e.id)} (${String(e.extension)})`, e);
      for (const g of groups) if (!inRange(g.extension)) s.outside.set(`ring group ${String(g.id)} (${String(g.extension)})`, g);
      for (let n = range.from; n <= range.to; n++) if (!taken.has(String(n))) s.free.push(String(n));
      const needed = 9;
      if (s.free.length < needed) throw new Error(`${range.from}-${range.to} has ${s.free.length} free number(s); the write checks need ${needed}`);
    }, timeout);

    afterAll(async () => {
      if (s.timestamps.size) note(`timestamps that moved with the writes (not counted as changes): ${[...s.timestamps].join(', ')}`);
      const left: string[] = [];
      if (caps.ring_groups) {
        for (const g of await listGroups()) {
          if (!s.createdGroups.has(String(g.id)) && !(s.attemptedGroups.has(String(g.extension)) && inRange(g.extension))) continue;
          const res = await api().delete(rgPath(String(g.id))).set(auth());
          if (res.status !== 204 && res.status !== 404) left.push(`ring group ${String(g.extension)}: DELETE answered ${problemText(res)}`);
        }
      }
      for (const e of await listAll()) {
        if (!s.createdIds.has(String(e.id)) && !(s.attempted.has(String(e.extension)) && inRange(e.extension))) continue;
        const res = await api().delete(extPath(String(e.id))).set(auth());
        if (res.status !== 204 && res.status !== 404) left.push(`extension ${String(e.extension)}: DELETE answered ${problemText(res)}`);
      }
      const still = (await listAll()).filter((e) => s.createdIds.has(String(e.id)) || (s.attempted.has(String(e.extension)) && inRange(e.extension)));
      for (const e of still) left.push(`extension ${String(e.extension)} (${String(e.id)}) is still there`);
      if (left.length) throw new Error(`cleanup could not remove everything the suite created:\n  ${left.join('\n  ')}`);
    }, timeout * 4);

    it(`creates an extension at a free number in the range: 201 with Location and the password once; read back${descWritable ? ' with its description' : ''}; view=full without the password`, async () => {
      const { made, res } = await createInRange('A', descWritable ? { description: 'Conformance suite' } : {});
      s.main = made;
      const problems: string[] = [];
      const fault = schemaFaults(validators.extension, res.body);
      if (fault) problems.push(`the 201 body does not match schemas/extension.schema.json: ${fault}`);
      if (res.headers.location !== extPath(made.id)) problems.push(`Location is ${JSON.stringify(res.headers.location)}, expected ${extPath(made.id)}`);
      if (res.body.extension !== made.number) problems.push(`the 201 body has extension ${JSON.stringify(res.body.extension)}, asked ${made.number}`);
      if (res.body.password !== made.password) problems.push('the 201 body does not carry the password that was set');
      const read = await api().get(extPath(made.id)).query({ include: 'password' }).set(auth());
      expectStatus(read, 200, `GET ${extPath(made.id)}?include=password`);
      if (read.body.name !== `Conformance ${made.number} A`) problems.push(`read back, name is ${JSON.stringify(read.body.name)}`);
      if (read.body.extension !== made.number) problems.push(`read back, extension is ${JSON.stringify(read.body.extension)}`);
      if (read.body.password !== made.password) problems.push('read back with include=password, the password is not the one set');
      if (descWritable && read.body.description !== 'Conformance suite') problems.push(`read back, description is ${JSON.stringify(read.body.description)}`);
      const full = await readExt(made.id);
      if (typeof full.vendor !== 'object' || full.vendor === null) problems.push('view=full has no vendor object');
      if (JSON.stringify(full).includes(made.password)) problems.push('view=full shows the password');
      const secretsShown = secretLookingSettings(full.vendor, 'vendor');
      if (secretsShown.length) problems.push(`view=full: vendor holds secret-named settings with values: ${secretsShown.join(', ')}`);
      const listedAs = (await listAll()).filter((e) => e.extension === made.number);
      if (listedAs.length !== 1) problems.push(`the list shows number ${made.number} ${listedAs.length} times`);
      report(problems);
    }, timeout);

    if (!ops.auto_number) {
      it('refuses a create without a number with 501 unsupported (capabilities.extensions.auto_number=false), creating nothing', async () => {
        const name = `Conformance auto ${randomBytes(3).toString('hex')}`;
        const res = await api().post(`${tenantPath}/extensions`).set(auth()).send({ name });
        const made = (await listAll()).filter((e) => e.name === name);
        made.forEach((e) => s.createdIds.add(String(e.id)));
        const problems: string[] = [];
        if (res.status !== 501 || res.body.type !== '/problems/unsupported') problems.push(`expected 501 /problems/unsupported, got ${problemText(res)}`);
        if (made.length) problems.push(`an extension named ${name} was created anyway (number ${String(made[0].extension)}; it will be deleted)`);
        report(problems);
      }, timeout);
    } else if (!target.autoNumber) {
      it.skip("creates without a number: skipped: the backend picks the number, which may fall outside the write range (give --auto-number to allow it; the suite deletes it at once)", () => undefined);
    } else {
      it('creates without a number (capabilities.extensions.auto_number=true): the backend picks one; read back, then deleted at once', async () => {
        const password = newPassword();
        s.passwords.push(password);
        const res = await api().post(`${tenantPath}/extensions`).set(auth()).send({ name: 'Conformance auto', password });
        expectStatus(res, 201, `POST ${tenantPath}/extensions without extension`);
        const id = String(res.body.id);
        s.createdIds.add(id);
        const problems: string[] = [];
        if (typeof res.body.extension !== 'string' || !res.body.extension) problems.push(`the 201 body has no number: ${JSON.stringify(res.body.extension)}`);
        if (res.headers.location !== extPath(id)) problems.push(`Location is ${JSON.stringify(res.headers.location)}, expected ${extPath(id)}`);
        const read = await api().get(extPath(id)).query({ include: 'password' }).set(auth());
        expectStatus(read, 200, `GET ${extPath(id)}`);
        if (read.body.extension !== res.body.extension || read.body.name !== 'Conformance auto') problems.push(`read back as ${JSON.stringify({ extension: read.body.extension, name: read.body.name })}`);
        if (read.body.password !== password) problems.push('read back with include=password, the password is not the one set');
        const del = await api().delete(extPath(id)).set(auth());
        if (del.status !== 204) problems.push(`DELETE ${extPath(id)} answered ${problemText(del)}`);
        const gone = await api().get(extPath(id)).set(auth());
        if (gone.status !== 404) problems.push(`after DELETE, GET ${extPath(id)} answered ${problemText(gone)}`);
        note(`the backend picked number ${String(res.body.extension)} for a create without a number (${inRange(res.body.extension) ? 'inside' : 'outside'} the write range); deleted at once`);
        report(problems);
      }, timeout);
    }

    if (!ops.update) {
      it('refuses a change with 501 unsupported (capabilities.extensions.update=false), changing nothing', async () => {
        const m = need(s.main, 'the extension');
        const before = await readExt(m.id);
        const res = await api().patch(extPath(m.id)).set(auth()).send({ name: 'Conformance renamed' });
        const after = await readExt(m.id);
        const problems: string[] = [];
        if (res.status !== 501) problems.push(`expected 501, got ${problemText(res)}`);
        for (const c of diffRecords(before, after)) problems.push(`the record changed: ${describeChange(c, secrets())}`);
        report(problems);
      }, timeout);
    } else {
      it('renames (PATCH name): the name changes, and no other setting of the full record', async () => {
        const m = need(s.main, 'the extension');
        await enrich(m);
        const to = `Conformance ${m.number} B`;
        await checkedWrite({
          what: `rename of ${m.number} (PATCH name)`,
          read: () => readExt(m.id),
          write: (query) => api().patch(extPath(m.id)).query(query ?? {}).set(auth()).send({ name: to }),
          asked: (before) => ({ name: { from: before.name, to } }),
          verify: async (after, res) => {
            const p: string[] = [];
            if (after.name !== to) p.push(`after the rename, name is ${JSON.stringify(after.name)}, not ${JSON.stringify(to)}`);
            if ('password' in res.body) p.push('the PATCH answer carries the password');
            return p;
          },
        });
      }, timeout);

      it('changes the password (PATCH password): include=password shows the new one, and no visible setting changes', async () => {
        const m = need(s.main, 'the extension');
        await enrich(m);
        const password = newPassword();
        s.passwords.push(password);
        await checkedWrite({
          what: `password change of ${m.number} (PATCH password)`,
          read: () => readExt(m.id),
          write: (query) => api().patch(extPath(m.id)).query(query ?? {}).set(auth()).send({ password }),
          asked: () => ({}),
          verify: async (_after, res) => {
            const p = 'password' in res.body ? ['the PATCH answer carries the password'] : [];
            const read = await api().get(extPath(m.id)).query({ include: 'password' }).set(auth());
            if (read.status !== 200) p.push(`GET ${extPath(m.id)}?include=password answered ${problemText(read)}`);
            else if (read.body.password !== password) p.push('after the change, include=password does not show the new password');
            return p;
          },
        });
        m.password = password;
      }, timeout);

      if (descWritable) {
        it('changes the description (PATCH description): the description changes, and no other setting', async () => {
          const m = need(s.main, 'the extension');
          await enrich(m);
          const to = 'Conformance suite, changed';
          await checkedWrite({
            what: `description change of ${m.number} (PATCH description)`,
            read: () => readExt(m.id),
            write: (query) => api().patch(extPath(m.id)).query(query ?? {}).set(auth()).send({ description: to }),
            asked: (before) => ({ description: { from: before.description, to } }),
            verify: async (after) => (after.description !== to ? [`after the change, description is ${JSON.stringify(after.description)}`] : []),
          });
        }, timeout);
      } else {
        it('refuses a description (not in capabilities.writable_fields) with 422 pointing at /description, changing nothing', async () => {
          const m = need(s.main, 'the extension');
          const before = await readExt(m.id);
          const res = await api().patch(extPath(m.id)).set(auth()).send({ description: 'Conformance suite' });
          const after = await readExt(m.id);
          const problems: string[] = [];
          const pointers = Array.isArray(res.body.errors) ? (res.body.errors as { pointer: string }[]).map((e) => e.pointer) : [];
          if (res.status !== 422 || !pointers.includes('/description')) problems.push(`expected 422 with pointer /description, got ${problemText(res)}`);
          for (const c of diffRecords(before, after)) problems.push(`the record changed: ${describeChange(c, secrets())}`);
          report(problems);
        }, timeout);
      }
    }

    it('deletes one extension: 204, then GET is 404, a second DELETE is 404, and the list no longer shows it', async () => {
      const { made } = await createInRange('delete-one');
      const problems: string[] = [];
      const del = await api().delete(extPath(made.id)).set(auth());
      if (del.status !== 204) problems.push(`DELETE answered ${problemText(del)}`);
      const read = await api().get(extPath(made.id)).set(auth());
      if (read.status !== 404) problems.push(`after DELETE, GET answered ${problemText(read)}`);
      const again = await api().delete(extPath(made.id)).set(auth());
      if (again.status !== 404) problems.push(`a second DELETE answered ${problemText(again)}`);
      if ((await listAll()).some((e) => String(e.id) === made.id)) problems.push(`the list still shows ${made.number}`);
      report(problems);
      s.gone = made.id;
    }, timeout);

    if (ops.batch_delete) {
      it('batch-deletes with an unknown id among them: one result per id, in order (deleted, not_found, deleted), and both are gone', async () => {
        const { made: a } = await createInRange('batch-1');
        const { made: b } = await createInRange('batch-2');
        const unknown = s.gone ?? unknownIdLike([a.id, b.id]);
        const res = await api().delete(`${tenantPath}/extensions`).query({ ids: `${a.id},${unknown},${b.id}` }).set(auth());
        expectStatus(res, 200, `DELETE ${tenantPath}/extensions?ids=...`);
        const problems: string[] = [];
        const fault = schemaFaults(validators.batchDeleteResult, res.body);
        if (fault) problems.push(`the answer does not match schemas/batch-delete-result.schema.json: ${fault}`);
        const expected = [
          { id: a.id, status: 'deleted' },
          { id: unknown, status: 'not_found' },
          { id: b.id, status: 'deleted' },
        ];
        const got = (res.body.results as Json[]).map((r) => ({ id: r.id, status: r.status }));
        if (JSON.stringify(got) !== JSON.stringify(expected)) problems.push(`results are ${JSON.stringify(res.body.results)}, expected ${JSON.stringify(expected)}`);
        for (const m of [a, b]) {
          const read = await api().get(extPath(m.id)).set(auth());
          if (read.status !== 404) problems.push(`after the batch delete, GET ${m.number} answered ${problemText(read)}`);
        }
        report(problems);
      }, timeout);
    } else {
      it('refuses a batch delete with 501 unsupported (capabilities.extensions.batch_delete=false), deleting nothing', async () => {
        const m = need(s.main, 'the extension');
        const res = await api().delete(`${tenantPath}/extensions`).query({ ids: m.id }).set(auth());
        const read = await api().get(extPath(m.id)).set(auth());
        const problems: string[] = [];
        if (res.status !== 501) problems.push(`expected 501, got ${problemText(res)}`);
        if (read.status !== 200) problems.push(`after the refused batch delete, GET answered ${problemText(read)}`);
        report(problems);
      }, timeout);
    }

    if (caps.ring_groups) {
      it('creates a ring group at a free number in the range, with members in the range: 201 with Location, read back as sent', async () => {
        const m = need(s.main, 'the extension');
        s.member = (await createInRange('member')).made;
        const members = [m.number, s.member.number];
        let res: Res | undefined;
        let number = '';
        for (let attempt = 0; attempt < 5; attempt++) {
          number = nextFree('the ring group');
          s.attemptedGroups.add(number);
          res = await api().post(`${tenantPath}/ring-groups`).set(auth()).send({ extension: number, name: `Conformance group ${number}`, strategy: 'ringall', ring_time: 20, members });
          if (res.status !== 409) break;
          note(`ring group number ${number} is taken by something the lists do not show (${problemText(res)}); the next free number was used`);
        }
        expectStatus(res!, 201, `POST ${tenantPath}/ring-groups with extension ${number}`);
        const id = String(res!.body.id);
        s.createdGroups.add(id);
        s.group = id;
        const problems: string[] = [];
        const fault = schemaFaults(validators.ringGroup, res!.body);
        if (fault) problems.push(`the 201 body does not match schemas/ring-group.schema.json: ${fault}`);
        if (res!.headers.location !== rgPath(id)) problems.push(`Location is ${JSON.stringify(res!.headers.location)}, expected ${rgPath(id)}`);
        const read = await readGroup(id);
        const want = { extension: number, name: `Conformance group ${number}`, strategy: 'ringall', ring_time: 20, members };
        for (const [k, v] of Object.entries(want)) if (JSON.stringify(read[k]) !== JSON.stringify(v)) problems.push(`read back, ${k} is ${JSON.stringify(read[k])}, sent ${JSON.stringify(v)}`);
        if (typeof read.vendor !== 'object' || read.vendor === null) problems.push('view=full has no vendor object');
        report(problems);
      }, timeout);

      const groupWrite = (what: string, body: Json) => async () => {
        const id = s.group;
        if (!id) throw new Error('not run: the ring group was not created (see the check above)');
        await checkedWrite({
          what: `${what} of ring group ${id}`,
          read: () => readGroup(id),
          write: (query) => api().patch(rgPath(id)).query(query ?? {}).set(auth()).send(body),
          asked: (before) => Object.fromEntries(Object.entries(body).map(([k, v]) => [k, { from: before[k], to: v }])),
          verify: async (after) => Object.entries(body).filter(([k, v]) => JSON.stringify(after[k]) !== JSON.stringify(v)).map(([k, v]) => `after the change, ${k} is ${JSON.stringify(after[k])}, sent ${JSON.stringify(v)}`),
        });
      };
      it('renames the ring group (PATCH name): the name changes, and no other setting', groupWrite('rename (PATCH name)', { name: 'Conformance group renamed' }), timeout);
      it('changes the ring group members (PATCH members): the members change, and no other setting', async () => {
        const member = need(s.member, 'the member extension');
        await groupWrite('members change (PATCH members)', { members: [member.number] })();
      }, timeout);
      it('changes the ring group strategy and ring time (PATCH strategy, ring_time): those change, and no other setting', groupWrite('strategy and ring time change (PATCH strategy, ring_time)', { strategy: 'hunt', ring_time: 25 }), timeout);
      it('deletes the ring group: 204, then GET is 404', async () => {
        const id = s.group;
        if (!id) throw new Error('not run: the ring group was not created (see the check above)');
        const del = await api().delete(rgPath(id)).set(auth());
        const read = await api().get(rgPath(id)).set(auth());
        const problems: string[] = [];
        if (del.status !== 204) problems.push(`DELETE ${rgPath(id)} answered ${problemText(del)}`);
        if (read.status !== 404) problems.push(`after DELETE, GET ${rgPath(id)} answered ${problemText(read)}`);
        report(problems);
      }, timeout);
    }

    it(`applies a small desired state inside the range (plan, apply, plan again): exactly the planned items change${caps.ring_groups ? ', ring group after its members' : ''}, and a renamed extension changes nothing but its name`, async () => {
      const member = need(s.member ?? s.main, 'an extension of the suite');
      const [a, b] = [nextFree('a desired extension'), nextFree('a desired extension')];
      s.attempted.add(a);
      s.attempted.add(b);
      const password = newPassword();
      s.passwords.push(password);
      const g = caps.ring_groups ? nextFree('a desired ring group') : undefined;
      if (g) s.attemptedGroups.add(g);
      const section: Json = {
        extensions: [
          { extension: a, name: `Conformance ${a} desired`, password },
          { extension: b, name: `Conformance ${b} desired`, ...(descWritable ? { description: 'desired state' } : {}) },
          { extension: member.number, name: 'Conformance desired rename' },
        ],
        ...(g ? { ring_groups: [{ extension: g, name: `Conformance group ${g} desired`, strategy: 'hunt', ring_time: 15, members: [a, b] }] } : {}),
      };
      const file = { version: 1, tenants: { [spec.tenant]: section } };
      // Settings the gateway cannot write (on a real Issabel: Follow-Me, dictation, an emergency caller id) first.
      await enrich(member);
      const before = await readExt(member.id);
      const planned = await api().post('/v1/desired-state/plan').set(auth()).send(file);
      expectStatus(planned, 200, 'POST /v1/desired-state/plan');
      const problems: string[] = [];
      const items = (planned.body.tenants[0].items as Json[]).map((i) => `${String(i.kind)}:${String(i.extension)}:${String(i.action)}`);
      const want = [`extension:${a}:create`, `extension:${b}:create`, `extension:${member.number}:update`, ...(g ? [`ring_group:${g}:create`] : [])];
      if (JSON.stringify(items) !== JSON.stringify(want)) problems.push(`the plan is ${JSON.stringify(items)}, expected ${JSON.stringify(want)} (in that order)`);
      report(problems);
      const applied = await api().post('/v1/desired-state/apply').query({ fingerprint: planned.body.fingerprint }).set(auth()).send(file);
      expectStatus(applied, 202, 'POST /v1/desired-state/apply');
      const jobId = String(applied.body.jobs[0].id);
      let job: Json = applied.body.jobs[0];
      for (let i = 0; i < 600 && job.status === 'running'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        job = (await api().get(`/v1/jobs/${jobId}`).set(auth())).body as Json;
      }
      for (const r of job.results as Json[]) if (r.status === 'done' && r.kind === 'ring_group') s.createdGroups.add(String(r.id));
      for (const e of await listAll()) if (e.extension === a || e.extension === b) s.createdIds.add(String(e.id));
      if (job.status !== 'done') throw new Error(`the apply's job ended ${String(job.status)}: ${JSON.stringify(job.results)}${job.problem ? ` (${JSON.stringify(job.problem)})` : ''}`);
      const again = await api().post('/v1/desired-state/plan').set(auth()).send(file);
      expectStatus(again, 200, 'POST /v1/desired-state/plan (again)');
      if (again.body.changes !== false) problems.push(`planned again after the apply, it still has changes: ${JSON.stringify((again.body.tenants[0].items as Json[]).filter((i) => i.action !== 'unchanged'))}`);
      const after = await readExt(member.id);
      const { unasked } = unaskedChanges(before, after, { name: { from: before.name, to: 'Conformance desired rename' } });
      if (unasked.length) problems.push(`the apply's rename of ${member.number} changed ${unasked.length} setting(s) it did not ask to change:\n${unasked.map((x) => `  ${describeChange(x, secrets())}`).join('\n')}`);
      if (after.name !== 'Conformance desired rename') problems.push(`after the apply, ${member.number} is named ${JSON.stringify(after.name)}`);
      if (g) {
        const group = (await listGroups()).find((x) => x.extension === g);
        if (!group) problems.push(`ring group ${g} is not there after the apply`);
        else if (JSON.stringify(group.members) !== JSON.stringify([a, b]) || group.strategy !== 'hunt' || group.ring_time !== 15) problems.push(`ring group ${g} reads back as ${JSON.stringify(group)}`);
        else {
          // A second apply renames the group (its write holds the PBX's reload back): its whole record, vendor
          // settings included, changes in the name alone.
          const groupBefore = await readGroup(String(group.id));
          const renamed = { version: 1, tenants: { [spec.tenant]: { ...section, ring_groups: [{ extension: g, name: `Conformance group ${g} renamed`, strategy: 'hunt', ring_time: 15, members: [a, b] }] } } };
          const plan2 = await api().post('/v1/desired-state/plan').set(auth()).send(renamed);
          expectStatus(plan2, 200, 'POST /v1/desired-state/plan (the rename)');
          const applied2 = await api().post('/v1/desired-state/apply').query({ fingerprint: plan2.body.fingerprint }).set(auth()).send(renamed);
          expectStatus(applied2, 202, 'POST /v1/desired-state/apply (the rename)');
          let job2: Json = applied2.body.jobs[0];
          for (let i = 0; i < 600 && job2.status === 'running'; i++) {
            await new Promise((r) => setTimeout(r, 100));
            job2 = (await api().get(`/v1/jobs/${String(job2.id)}`).set(auth())).body as Json;
          }
          if (job2.status !== 'done') problems.push(`the rename's job ended ${String(job2.status)}: ${JSON.stringify(job2.results)}`);
          const groupAfter = await readGroup(String(group.id));
          const changed = unaskedChanges(groupBefore, groupAfter, { name: { from: groupBefore.name, to: `Conformance group ${g} renamed` } }).unasked;
          if (changed.length) problems.push(`the apply's rename of ring group ${g} changed ${changed.length} setting(s) it did not ask to change:\n${changed.map((x) => `  ${describeChange(x, secrets())}`).join('\n')}`);
          if (groupAfter.name !== `Conformance group ${g} renamed`) problems.push(`after the rename, ring group ${g} is named ${JSON.stringify(groupAfter.name)}`);
        }
      }
      report(problems);
    }, timeout * 4);

    it(`left everything outside ${range.from}-${range.to} as it was (every extension${caps.ring_groups ? ' and ring group' : ''}, in full)`, async () => {
      const now = new Map<string, Json>();
      for (const e of await listAll({ view: 'full' })) if (!inRange(e.extension)) now.set(`extension ${String(e.id)} (${String(e.extension)})`, e);
      for (const g of await listGroups(true)) if (!inRange(g.extension)) now.set(`ring group ${String(g.id)} (${String(g.extension)})`, g);
      const problems: string[] = [];
      for (const [k, before] of s.outside) {
        const after = now.get(k);
        if (!after) problems.push(`${k} is gone`);
        else for (const c of diffRecords(before, after).filter((x) => !isTimestampBump(x))) problems.push(`${k}: ${describeChange(c, secrets())}`);
      }
      for (const [k, e] of now) if (!s.outside.has(k) && String(e.name ?? '').startsWith('Conformance')) problems.push(`${k} appeared, named ${JSON.stringify(e.name)}`);
      if (problems.length) problems.unshift('outside the write range (if someone else changed these during the run, run the suite again):');
      report(problems);
    }, timeout * 2);
  });
}
