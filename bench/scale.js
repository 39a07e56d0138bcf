// npm run bench:scale: export 10,000 then 100,000 extensions from a simulated VoIPBIN tenant through the
// gateway, with the time taken and the gateway's peak RSS each time (a fresh gateway per size), to show that
// memory stays flat: the export streams window by window.
const os = require('node:os');
const path = require('node:path');
const { root, KEY, startNode, BACKEND_LINE, GATEWAY_URL, writeConfig, rssMb } = require('./common');

const sizes = (process.argv[2] ?? '10000,100000').split(',').map(Number);

async function one(size) {
  const backend = await startNode(path.join(__dirname, 'backend.js'), [String(size)], { re: BACKEND_LINE });
  const vb = JSON.parse(backend.m[1]).voipbin;
  const file = writeConfig({
    server: { port: 0, rate_limit: { requests: 0 } },
    logging: { level: 'info' },
    api_keys: [{ id: 'bench', key: KEY, tenants: ['*'] }],
    tenants: { cloud: { backend: 'voipbin', base_url: `${vb.url}/v1.0`, pacing: false, auth: { accesskey: vb.accesskey } } },
  }, 'scale');
  const gw = await startNode(path.join(root, 'dist/src/main.js'), ['--config', file], { re: GATEWAY_URL });
  const url = gw.m[1];
  const before = rssMb(gw.child.pid, 'VmRSS');
  const started = performance.now();
  const res = await fetch(`${url}/v1/tenants/cloud/extensions/export?format=ndjson`, { headers: { authorization: `Bearer ${KEY}` } });
  let lines = 0;
  const decoder = new TextDecoder();
  for await (const chunk of res.body) lines += (decoder.decode(chunk, { stream: true }).match(/\n/g) ?? []).length;
  const seconds = (performance.now() - started) / 1000;
  const peak = rssMb(gw.child.pid, 'VmHWM');
  gw.child.kill('SIGKILL');
  backend.child.kill('SIGKILL');
  return { size, exported: lines - 1, seconds: seconds.toFixed(1), 'per s': Math.round((lines - 1) / seconds), 'RSS before (MB)': before, 'peak RSS (MB)': peak };
}

(async () => {
  const rows = [];
  for (const size of sizes) rows.push(await one(size));
  console.log(`export through the gateway (NDJSON), ${os.cpus().length} cores, node ${process.version}`);
  console.table(rows);
})();
