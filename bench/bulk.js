// npm run bench:bulk [-- --rows 100,1000 --tenant-size 1000 --skip-imports --skip-migration]
// Bulk work against the vendor's own limit: imports of N new extensions into a VoIPBIN tenant holding 1,000
// (the simulator enforcing VoIPBIN's real 16.7 requests/s with a burst of 33) and into an Issabel tenant, through
// one gateway and through two gateway instances sharing Redis (each importing half the rows); then a migration
// of the Issabel tenant's 1,000 extensions to an empty VoIPBIN tenant. For each run it prints the time, that time
// divided by the physical limit (the least calls the job needs, sent at exactly the vendor's rate after its
// burst), the backend calls divided by that minimum, and the 429s the vendor answered.
const os = require('node:os');
const path = require('node:path');
const { root, KEY, startNode, GATEWAY_URL, writeConfig } = require('./common');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const ROWS = arg('rows', '100,1000').split(',').map(Number);
const TENANT_SIZE = Number(arg('tenant-size', '1000'));
const REDIS = arg('redis', 'redis://127.0.0.1:6379/14');
const PAGE = 100; // VoIPBIN's page size cap
const ISSABEL_PACING = { perSecond: 10, burst: 10 }; // the gateway's default for Issabel (adapters/issabel/README.md)

const BACKEND_JSON = /^(\{.*"voipbin".*\})$/m;
const children = [];
const cleanup = () => children.forEach((c) => c.kill('SIGKILL'));
process.on('exit', cleanup);

const auth = { authorization: `Bearer ${KEY}` };

/** The vendor's physical limit for `calls` calls: the burst at once, the rest at the sustained rate. */
const physicalSeconds = (calls, limit) => Math.max(0, calls - limit.burst) / limit.perSecond;

async function counts(url) {
  return (await fetch(`${url}/__bench/counts`)).json();
}
async function reset(url) {
  await fetch(`${url}/__bench/reset`, { method: 'POST' });
}

/** Wait for a job (an import or migration answered 202) to end; its answer when it does. */
async function untilDone(gw, location) {
  for (;;) {
    const res = await fetch(`${gw}${location}`, { headers: auth });
    const body = await res.json();
    if (!['running', 'queued', 'pending'].includes(body.status)) return body;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** POST an import; an answer of 202 is a job, followed to its end. */
async function importRows(gw, tenant, rows) {
  const csv = ['extension,name,password', ...rows.map((n) => `${n},Bench ${n},Bench-Secret-${n}-0123456789`)].join('\n') + '\n';
  const res = await fetch(`${gw}/v1/tenants/${tenant}/extensions/import?dry_run=false&on_conflict=fail`, { method: 'POST', headers: { ...auth, 'content-type': 'text/csv' }, body: csv });
  if (res.status === 202) return untilDone(gw, res.headers.get('location'));
  const body = await res.json();
  if (res.status !== 200) throw new Error(`import answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
  return body;
}

function outcomeOf(body) {
  const o = body.outcome ?? body.progress ?? {};
  return `${o.done ?? '?'} done, ${o.failed ?? 0} failed`;
}

async function startGateway(backends, name, shared) {
  const file = writeConfig(
    {
      server: { port: 0, rate_limit: { requests: 0 }, request_budget_ms: 15000 },
      logging: { level: 'info' }, // the listening line is at info; later lines are discarded
      ...(shared ? { state: { redis_url: REDIS } } : {}),
      api_keys: [{ id: 'bench', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }],
      tenants: {
        cloud: { backend: 'voipbin', base_url: `${backends.voipbin.url}/v1.0`, auth: { accesskey: backends.voipbin.accesskey } },
        box: { backend: 'issabel', base_url: `${backends.issabel.url}/pbxapi`, auth: backends.issabel.auth },
      },
    },
    name,
  );
  const gw = await startNode(path.join(root, 'dist/src/main.js'), ['--config', file], { re: GATEWAY_URL, children });
  return gw.m[1];
}

async function flushRedis() {
  try {
    const { default: Redis } = await import('ioredis');
    const r = new Redis(REDIS, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await r.connect();
    await r.flushdb();
    r.disconnect();
  } catch (err) {
    throw new Error(`the two-instance runs need Redis at ${REDIS}: ${err.message}`);
  }
}

async function run({ label, target, backendUrl, limit, minCalls, work }) {
  await reset(backendUrl);
  // Let every bucket (the vendor's, the gateway's) fill up again after the last run: a run starts with its burst.
  await new Promise((r) => setTimeout(r, 3000));
  const before = await counts(backendUrl);
  process.stderr.write(`${label} -> ${target} ...\n`);
  const started = performance.now();
  const outcome = await work();
  const seconds = (performance.now() - started) / 1000;
  const after = await counts(backendUrl);
  const calls = after.calls - before.calls;
  const physical = limit ? physicalSeconds(minCalls, limit) : undefined;
  process.stderr.write(`${label} -> ${target}: ${seconds.toFixed(1)} s, ${calls} calls, ${after.throttled - before.throttled} 429s (${outcome})\n`);
  return {
    run: label,
    target,
    outcome,
    's': seconds.toFixed(1),
    'physical s': physical === undefined ? '-' : physical.toFixed(1),
    'time / physical': physical ? (seconds / physical).toFixed(2) : '-',
    calls,
    'min calls': minCalls,
    'calls / min': (calls / minCalls).toFixed(3),
    '429s': after.throttled - before.throttled,
  };
}

(async () => {
  const backendProc = await startNode(path.join(__dirname, 'bulk-backend.js'), [String(TENANT_SIZE), String(TENANT_SIZE)], { re: BACKEND_JSON, children });
  const backends = JSON.parse(backendProc.m[1]);
  const limit = backends.voipbin.limit;
  const rows = [];
  const one = await startGateway(backends, 'bulk-one', false);
  await flushRedis();
  const pair = [await startGateway(backends, 'bulk-a', true), await startGateway(backends, 'bulk-b', true)];

  for (const n of process.argv.includes('--skip-imports') ? [] : ROWS) {
    const numbers = Array.from({ length: n }, (_, i) => String(500000 + i));
    // The least an import needs: one walk of the tenant's list (pages of 100, and the empty page that ends it)
    // and one create per row.
    const vbMin = Math.floor(TENANT_SIZE / PAGE) + 1 + n;
    rows.push(await run({ label: `import ${n}, one gateway`, target: `voipbin (${TENANT_SIZE})`, backendUrl: backends.voipbin.url, limit, minCalls: vbMin, work: async () => outcomeOf(await importRows(one, 'cloud', numbers)) }));
    rows.push(
      await run({
        label: `import ${n}, two gateways + Redis`,
        target: `voipbin (${TENANT_SIZE})`,
        backendUrl: backends.voipbin.url,
        limit,
        // Each instance walks the list once.
        minCalls: 2 * (Math.floor(TENANT_SIZE / PAGE) + 1) + n,
        work: async () => {
          const half = Math.ceil(n / 2);
          const answers = await Promise.all([importRows(pair[0], 'cloud', numbers.slice(0, half)), importRows(pair[1], 'cloud', numbers.slice(half))]);
          return answers.map(outcomeOf).join(' + ');
        },
      }),
    );
    // Issabel has no rate limit of its own: its "limit" here is the gateway's default pacing for it (10/s, burst
    // 10: every pbxapi call is a PHP request with an AMI login). Per row: the GET that keeps PUT from overwriting
    // an extension, the PUT, and the read-back (pbxapi answers a create with no body); plus one list and one
    // apply-changes for the batch.
    const isMin = 1 + 3 * n + 1;
    rows.push(await run({ label: `import ${n}, one gateway`, target: `issabel (${TENANT_SIZE})`, backendUrl: backends.issabel.url, limit: ISSABEL_PACING, minCalls: isMin, work: async () => outcomeOf(await importRows(one, 'box', numbers)) }));
  }

  // A desired state adding N extensions to the VoIPBIN tenant: plan (one walk of the tenant), then apply (which
  // plans again, a second walk, to refuse a stale plan) as a job: one create per new extension.
  const n = ROWS[0];
  const wanted = Array.from({ length: n }, (_, i) => ({ extension: String(600000 + i), name: `Desired ${i}`, password: `Desired-Secret-${i}-0123456789` }));
  rows.push(
    await run({
      label: `desired state +${n}, plan and apply`,
      target: `voipbin (${TENANT_SIZE})`,
      backendUrl: backends.voipbin.url,
      limit,
      minCalls: 2 * (Math.floor(TENANT_SIZE / PAGE) + 1) + n,
      work: async () => {
        const file = JSON.stringify({ tenants: { cloud: { extensions: wanted } } });
        const headers = { ...auth, 'content-type': 'application/json' };
        const plan = await (await fetch(`${one}/v1/desired-state/plan`, { method: 'POST', headers, body: file })).json();
        const res = await fetch(`${one}/v1/desired-state/apply?fingerprint=${plan.fingerprint}`, { method: 'POST', headers, body: file });
        if (res.status !== 202) throw new Error(`apply answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
        const [job] = (await res.json()).jobs;
        return outcomeOf(await untilDone(one, `/v1/jobs/${job.id}`));
      },
    }),
  );

  if (!process.argv.includes('--skip-migration')) {
    // Issabel (1,000) -> an empty VoIPBIN tenant: read the source once, walk the (empty) target once, one create each.
    const minCalls = 1 + TENANT_SIZE;
    const empty = await startNode(path.join(__dirname, 'bulk-backend.js'), ['0', '0'], { re: BACKEND_JSON, children });
    const target = JSON.parse(empty.m[1]);
    const gw = await startGateway({ voipbin: target.voipbin, issabel: backends.issabel }, 'bulk-migrate', false);
    await reset(backends.issabel.url);
    rows.push(
      await run({
        label: `migrate ${TENANT_SIZE} issabel -> voipbin`,
        target: 'voipbin (empty)',
        backendUrl: target.voipbin.url,
        limit,
        minCalls,
        work: async () => {
          const res = await fetch(`${gw}/v1/migrations`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ from: 'box', to: 'cloud', dry_run: false }) });
          if (res.status !== 202) throw new Error(`migration answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
          return outcomeOf(await untilDone(gw, res.headers.get('location') ?? `/v1/migrations/${(await res.json()).id}`));
        },
      }),
    );
  }

  console.log(`bulk work at the vendor's limit (VoIPBIN ${limit.perSecond}/s, burst ${limit.burst}; Issabel: the gateway's pacing, ${ISSABEL_PACING.perSecond}/s, burst ${ISSABEL_PACING.burst}); ${os.cpus().length} cores, node ${process.version}`);
  console.table(rows);
  cleanup();
  process.exit(0);
})().catch((err) => {
  console.error(err);
  cleanup();
  process.exit(1);
});
