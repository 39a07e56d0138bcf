// npm run bench:cpu: CPU time the gateway spends per request, read from /proc/<pid>/stat over a fixed number of
// get-one requests. On a machine whose cores are shared with the load generator and the backend, req/s swings
// with whatever else runs; the CPU the gateway process itself burns per request is much steadier, so this is
// the figure to watch while working on the hot path.
//
// Options: --requests N (default 20000)  --connections N (default 20)  --op get|list (default get)
//          --via gateway|naive|floor|forwarder (default gateway; the references serve get only)
//          --root DIR (another checkout, built, whose gateway to measure: A/B comparisons on one machine)
//          --node-args "..." (extra node flags for the gateway, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof")
const fs = require('node:fs');
const path = require('node:path');
const autocannon = require('autocannon');
const { root, KEY, startNode, BACKEND_LINE, GATEWAY_URL, writeConfig, rssMb } = require('./common');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const REQUESTS = Number(arg('requests', 20000));
const CONNECTIONS = Number(arg('connections', 20));
const OP = arg('op', 'get');
const VIA = arg('via', 'gateway');
const NODE_ARGS = arg('node-args', '').split(' ').filter(Boolean);
const children = [];
const TICK = 100; // USER_HZ on Linux

function cpuMs(pid) {
  // Fields 14 and 15 (utime, stime) after the command name, which may hold spaces: split after the last ')'.
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').pop().trim().split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICK;
}

const fire = (opts) => new Promise((resolve, reject) => autocannon(opts, (err, r) => (err ? reject(err) : resolve(r))));

async function main() {
  const backend = await startNode(path.join(__dirname, 'backend.js'), ['1000'], { re: BACKEND_LINE, children });
  const vb = JSON.parse(backend.m[1]).voipbin;
  const config = {
    server: { host: '127.0.0.1', port: 0, rate_limit: { requests: 0 } },
    logging: { level: 'info' },
    api_keys: [{ id: 'bench', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }],
    tenants: { cloud: { backend: 'voipbin', base_url: `${vb.url}/v1.0`, resilience: { max_concurrent: 64 }, pacing: false, auth: { accesskey: vb.accesskey } } },
  };
  const file = writeConfig(config, 'cpu');
  const script = { gateway: 'dist/src/main.js', naive: 'bench/naive.js', floor: 'bench/floor.js', forwarder: 'bench/forwarder.js' }[VIA];
  const env = { TARGET: vb.url, ACCESSKEY: vb.accesskey };
  const { child: server, m: listening } = await startNode(path.join(arg('root', root), script), ['--config', file], { re: GATEWAY_URL, env, nodeArgs: NODE_ARGS, children });
  const url = listening[1];
  const paths = {
    gateway: OP === 'list' ? '/v1/tenants/cloud/extensions?page_size=100' : `/v1/tenants/cloud/extensions/${vb.id}`,
    naive: `/extensions/${vb.id}`,
    floor: `/extensions/${vb.id}`,
    forwarder: `/v1.0/extensions/${vb.id}?accesskey=${vb.accesskey}`,
  };
  const target = {
    url: url + paths[VIA],
    headers: { authorization: `Bearer ${KEY}` },
    connections: CONNECTIONS,
  };
  const idleRss = rssMb(server.pid, 'VmRSS');
  await fire({ ...target, amount: Math.max(2000, REQUESTS / 5) }); // warm-up: JIT, sockets, caches
  const before = cpuMs(server.pid);
  const started = Date.now();
  const result = await fire({ ...target, amount: REQUESTS });
  const cpu = cpuMs(server.pid) - before;
  const seconds = (Date.now() - started) / 1000;
  const errors = result.errors + result.non2xx;
  console.log(
    JSON.stringify({
      op: OP,
      via: VIA,
      requests: result.requests.total,
      errors,
      cpu_us_per_request: Math.round((cpu * 1000) / result.requests.total),
      req_s: Math.round(result.requests.total / seconds),
      p50_ms: result.latency.p50,
      p99_ms: result.latency.p99,
      idle_rss_mb: idleRss,
      peak_rss_mb: rssMb(server.pid, 'VmHWM'),
    }),
  );
  if (errors) process.exitCode = 1;
  // A profile is written when the process exits on its own: SIGTERM lets the gateway shut down gracefully.
  await new Promise((resolve) => {
    server.once('exit', resolve);
    server.kill('SIGTERM');
  });
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => children.forEach((c) => c.kill('SIGKILL')));
