// npm run bench:scale: export 10,000 then 100,000 extensions from a simulated VoIPBIN tenant through the
// gateway, with the time taken and the gateway's peak RSS each time (a fresh gateway per size), to show that
// memory stays flat: the export streams window by window.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const KEY = 'bench-api-key-0123456789';
const sizes = (process.argv[2] ?? '10000,100000').split(',').map(Number);

function startJson(args, match) {
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d) => {
      out += d.toString();
      const m = match.exec(out);
      if (m) {
        child.stdout.off('data', onData);
        child.stdout.resume();
        resolve({ child, m });
      }
    };
    child.stdout.on('data', onData);
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
}

const rssMb = (pid, field) => Math.round(Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024);

async function one(size) {
  const backend = await startJson([path.join(__dirname, 'backend.js'), String(size)], /^(\{.*"voipbin".*\})$/m);
  const vb = JSON.parse(backend.m[1]).voipbin;
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-scale-')), 'scale.yaml');
  fs.writeFileSync(file, JSON.stringify({
    server: { port: 0, rate_limit: { requests: 0 } },
    logging: { level: 'info' },
    api_keys: [{ id: 'bench', key: KEY, tenants: ['*'] }],
    tenants: { cloud: { backend: 'voipbin', base_url: `${vb.url}/v1.0`, auth: { accesskey: vb.accesskey } } },
  }));
  const gw = await startJson([path.join(root, 'dist/src/main.js'), '--config', file], /listening on (http:\/\/\S+)|"url":"(http:\/\/[^"]+)"/);
  const url = gw.m[1] ?? gw.m[2];
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
