// npm run bench: the same operations three ways (directly against the simulator, through the raw forwarder,
// through the gateway; for get one also through bench/naive.js, a plain Express + axios handler, and
// bench/floor.js, the least Express + axios can do), at a fixed rate for latency and at saturation for capacity,
// in one process tree and one run. Prints one table, the backend calls per operation, and the gateway's peak RSS.
//
// Options: --duration S (per run, default 5)  --rate N (fixed-rate req/s, default 200)
//          --connections N (saturation, default 50)  --rate-connections N (fixed rate, default 2)
//          --only get,list,create,directory  --modes rate,saturation
//          --node-args "..." (extra node flags for the gateway, e.g. "--single-threaded-gc")
//          --warmup S (per target before it is measured, default 3: JIT-compiled code, open sockets, as in service)
//          --repeat N (default 1): measure each target N times, interleaved, and print the median run (by p99 at the
//          fixed rate, by req/s at saturation). On a shared machine one run can read 20 % off; interleaving spreads
//          that over every target alike.
const os = require('node:os');
const path = require('node:path');
const autocannon = require('autocannon');
const { root, KEY, startNode, GATEWAY_URL, writeConfig, rssMb } = require('./common');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const DURATION = Number(arg('duration', 5));
const RATE = Number(arg('rate', 200));
const CONNECTIONS = Number(arg('connections', 50));
// Few connections at the fixed rate: autocannon fires a connection's share of the rate at once, so ten
// connections at 200/s arrive as bursts of ten, and a burst's queueing would read as the gateway's latency.
const RATE_CONNECTIONS = Number(arg('rate-connections', 2));
const ONLY = arg('only', 'get,list,create,directory').split(',');
const MODES = arg('modes', 'rate,saturation').split(',');
const WARMUP = Number(arg('warmup', 3));
const REPEAT = Math.max(1, Number(arg('repeat', 1)));
const NODE_ARGS = arg('node-args', '').split(' ').filter(Boolean);
const children = [];
const TARGETS = ['direct', 'forwarder', 'naive', 'floor', 'gateway'];
/** A JSON line on stdout: the backends' description, or a reference server's URL. */
const JSON_LINE = /^(\{.*\})$/m;
const start = async (script, args, env = {}) => {
  const { child, m } = await startNode(script, args, { re: JSON_LINE, env, children });
  return { child, info: JSON.parse(m[1]) };
};

const calls = async (url) => (await (await fetch(`${url}/__bench/calls`)).json()).calls;

function run(opts) {
  return new Promise((resolve, reject) => {
    autocannon({ duration: DURATION, ...opts }, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

async function main() {
  const { info: backends } = await start(path.join(__dirname, 'backend.js'), ['1000']);
  const vb = backends.voipbin;
  const { info: fwd } = await start(path.join(__dirname, 'forwarder.js'), [], { TARGET: vb.url });
  const { info: naive } = await start(path.join(__dirname, 'naive.js'), [], { TARGET: vb.url, ACCESSKEY: vb.accesskey });
  const { info: floor } = await start(path.join(__dirname, 'floor.js'), [], { TARGET: vb.url, ACCESSKEY: vb.accesskey });
  const config = {
    server: { host: '127.0.0.1', port: 0, rate_limit: { requests: 0 } },
    logging: { level: 'info' },
    api_keys: [{ id: 'bench', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }],
    tenants: {
      // The bulkhead's default (16 calls in flight) protects a PBX; the cloud twin takes more, as VoIPBIN would.
      // Pacing off: this bench measures the gateway's own cost per call, not the vendors' limits (bench:bulk does).
      cloud: { backend: 'voipbin', base_url: `${vb.url}/v1.0`, resilience: { max_concurrent: 64 }, pacing: false, auth: { accesskey: vb.accesskey } },
      box: { backend: 'issabel', base_url: `${backends.issabel.url}/pbxapi`, pacing: false, auth: backends.issabel.auth },
      vital: { backend: 'vitalpbx', base_url: `${backends.vitalpbx.url}/api/v2`, pacing: false, auth: { app_key: backends.vitalpbx.app_key, tenant: 'vitalpbx' } },
    },
  };
  const file = writeConfig(config, 'bench');
  // The gateway's request log goes to /dev/null through the same asynchronous pino destination it uses in production.
  const { child: gatewayChild, m: listening } = await startNode(path.join(root, 'dist/src/main.js'), ['--config', file], { re: GATEWAY_URL, nodeArgs: NODE_ARGS, children });
  const gw = listening[1];
  const auth = { authorization: `Bearer ${KEY}` };
  const q = `accesskey=${vb.accesskey}`;
  let seq = 0;
  const createThenDelete = (base, headers, body) => [
    {
      method: 'POST',
      path: base.create,
      headers: { ...headers, 'content-type': 'application/json' },
      setupRequest: (req) => ({ ...req, body: JSON.stringify(body(++seq)) }),
      onResponse: (status, b, context) => {
        context.id = JSON.parse(b).id;
      },
    },
    { method: 'DELETE', headers, setupRequest: (req, context) => ({ ...req, path: base.remove(context.id) }) },
  ];
  const ops = {
    get: {
      direct: { url: `${vb.url}/v1.0/extensions/${vb.id}?${q}` },
      forwarder: { url: `${fwd.url}/v1.0/extensions/${vb.id}?${q}` },
      naive: { url: `${naive.url}/extensions/${vb.id}` },
      floor: { url: `${floor.url}/extensions/${vb.id}` },
      gateway: { url: `${gw}/v1/tenants/cloud/extensions/${vb.id}`, headers: auth },
      backend: vb.url,
    },
    list: {
      direct: { url: `${vb.url}/v1.0/extensions?page_size=100&${q}` },
      forwarder: { url: `${fwd.url}/v1.0/extensions?page_size=100&${q}` },
      gateway: { url: `${gw}/v1/tenants/cloud/extensions?page_size=100`, headers: auth },
      backend: vb.url,
    },
    create: {
      // Issabel: PUT creates at a given number; the gateway first checks the number is free.
      direct: null,
      forwarder: null,
      gateway: { url: gw, requests: createThenDelete({ create: '/v1/tenants/box/extensions', remove: (id) => `/v1/tenants/box/extensions/${id}` }, auth, (n) => ({ extension: String(20000 + (n % 50000)), name: `Bench ${n}` })) },
      backend: backends.issabel.url,
    },
    directory: {
      direct: null,
      forwarder: null,
      gateway: { url: `${gw}/v1/extensions?q=reception`, headers: auth },
      backend: null,
    },
  };
  const rows = [];
  for (const [name, op] of Object.entries(ops)) {
    if (!ONLY.includes(name)) continue;
    // A server in service runs optimised code: a cold one spends its first thousands of requests in the
    // interpreter and compiling, which would read as latency at the fixed rate. Every target gets the same.
    for (const target of TARGETS) {
      if (op[target] && WARMUP > 0) await run({ ...op[target], connections: 10, duration: WARMUP });
    }
    for (const mode of ['rate', 'saturation'].filter((m) => MODES.includes(m))) {
      const runs = new Map();
      for (let round = 0; round < REPEAT; round++) {
        for (const target of TARGETS) {
          const t = op[target];
          if (!t) continue;
          const before = op.backend ? await calls(op.backend) : 0;
          const result = await run({ ...t, connections: mode === 'rate' ? RATE_CONNECTIONS : CONNECTIONS, ...(mode === 'rate' ? { overallRate: RATE } : {}) });
          const after = op.backend ? await calls(op.backend) : 0;
          runs.set(target, [...(runs.get(target) ?? []), { result, backendCalls: after - before }]);
          process.stderr.write(`${name} ${mode} ${target}: ${Math.round(result.requests.average)} req/s\n`);
        }
      }
      for (const [target, list] of runs) {
        // The median run (with its own other figures, not a mix of runs): by p99 at the fixed rate, where every
        // run makes the same req/s, and by req/s at saturation.
        const by = mode === 'rate' ? (r) => r.result.latency.p99 : (r) => r.result.requests.average;
        const { result, backendCalls } = [...list].sort((a, b) => by(a) - by(b))[Math.floor(list.length / 2)];
        const requests = result.requests.total;
        rows.push({
          op: name,
          mode: mode === 'rate' ? `${RATE}/s` : `${CONNECTIONS} conn`,
          via: target,
          'req/s': Math.round(result.requests.average),
          p50: result.latency.p50,
          p99: result.latency.p99,
          errors: list.reduce((n, r) => n + r.result.errors + r.result.non2xx, 0),
          'backend calls/req': target === 'gateway' && op.backend && requests ? (backendCalls / requests).toFixed(2) : '',
        });
      }
    }
  }
  const cols = Object.keys(rows[0]);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (vals) => vals.map((v, i) => String(v).padEnd(width[i])).join('  ').trimEnd();
  console.log(`\npbx-gateway bench: ${os.cpus().length} cores (${os.cpus()[0].model}), node ${process.version}, ${DURATION} s a run${REPEAT > 1 ? `, median of ${REPEAT} interleaved runs` : ''}; latency in ms`);
  console.log(line(cols));
  for (const r of rows) console.log(line(cols.map((c) => r[c])));
  console.log(`gateway peak RSS: ${rssMb(gatewayChild.pid)} MB`);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => children.forEach((c) => c.kill('SIGKILL')));
