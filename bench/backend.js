// The backends for the bench, in a process of their own: the three simulators, seeded, each able to say how
// many calls it has received (GET /__bench/calls) so the bench can count backend calls per unified operation.
// Prints one JSON line with their URLs. Usage: node bench/backend.js [voipbin-extension-count]
const { serveSimulator } = require('../dist/src/simulator-kit');
const { VoipbinSimulator, DEMO_ACCESSKEY } = require('../dist/adapters/voipbin/simulator');
const { IssabelSimulator, DEMO_USER } = require('../dist/adapters/issabel/simulator');
const { VitalpbxSimulator, DEMO_APP_KEY } = require('../dist/adapters/vitalpbx/simulator');

const count = Number(process.argv[2] ?? 1000);

function counted(sim) {
  let calls = 0;
  // The simulator keeps a log of every call; the bench needs only the count, so the log is emptied as it goes.
  setInterval(() => (sim.calls.length = 0), 1000).unref();
  return (req) => {
    if (req.path === '/__bench/calls') return { status: 200, body: { calls } };
    calls++;
    return sim.handle(req);
  };
}

async function main() {
  // The hot-path benches measure the gateway's own cost, not the vendor's rate limit (that is bench:bulk's).
  const voipbin = new VoipbinSimulator({ rateLimit: false });
  // Seeded in chunks: the simulator keeps every record, and 100,000 of them is the scale run.
  for (let i = 0; i < count; i += 1000) {
    voipbin.seed(Array.from({ length: Math.min(1000, count - i) }, (_, j) => ({ extension: String(100000 + i + j), name: j === 0 && i === 0 ? 'Reception' : `User ${i + j}`, password: `Bench-Pass-${i + j}` })));
  }
  const issabel = new IssabelSimulator();
  issabel.seedDemo();
  const vital = new VitalpbxSimulator();
  vital.seedDemo();
  const [v, i, p] = await Promise.all([serveSimulator(counted(voipbin)), serveSimulator(counted(issabel)), serveSimulator(counted(vital))]);
  const anyId = voipbin.seed([{ extension: '99999', name: 'Bench Target', password: 'Bench-Target-Pass' }])[0].id;
  process.stdout.write(
    JSON.stringify({
      voipbin: { url: v.url, accesskey: DEMO_ACCESSKEY, id: anyId },
      issabel: { url: i.url, auth: DEMO_USER },
      vitalpbx: { url: p.url, app_key: DEMO_APP_KEY },
    }) + '\n',
  );
}
main();
