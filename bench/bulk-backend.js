// The backends of `npm run bench:bulk`, in a process of their own: a VoIPBIN simulator enforcing the vendor's
// real limit (16.7 requests a second per customer, a burst of 33: bin-api-manager's config) holding N
// extensions, and an Issabel simulator holding M. Each counts the calls it received and the 429s it answered
// (GET /__bench/counts, not counted); POST /__bench/reset empties the targets for the next run.
// Prints one JSON line with their URLs. Usage: node bench/bulk-backend.js [voipbin-count] [issabel-count]
const { serveSimulator } = require('../dist/src/simulator-kit');
const { VoipbinSimulator, DEMO_ACCESSKEY } = require('../dist/adapters/voipbin/simulator');
const { IssabelSimulator, DEMO_USER } = require('../dist/adapters/issabel/simulator');

const voipbinCount = Number(process.argv[2] ?? 1000);
const issabelCount = Number(process.argv[3] ?? 1000);
const REAL_LIMIT = { perSecond: 16.7, burst: 33 };

function counted(make) {
  let sim = make();
  const counts = { calls: 0, throttled: 0 };
  // The simulator keeps a log of every call; the bench needs only the counts, so the log is emptied as it goes.
  setInterval(() => (sim.calls.length = 0), 1000).unref();
  return (req) => {
    if (req.path === '/__bench/counts') return { status: 200, body: counts };
    if (req.path === '/__bench/reset' && req.method === 'POST') {
      sim = make();
      counts.calls = 0;
      counts.throttled = 0;
      return { status: 200, body: counts };
    }
    counts.calls++;
    const answer = sim.handle(req);
    if (answer.status === 429) counts.throttled++;
    return answer;
  };
}

function voipbin() {
  const sim = new VoipbinSimulator({ rateLimit: REAL_LIMIT });
  for (let i = 0; i < voipbinCount; i += 1000) {
    sim.seed(Array.from({ length: Math.min(1000, voipbinCount - i) }, (_, j) => ({ extension: String(100000 + i + j), name: `User ${i + j}`, password: `Bench-Pass-${i + j}` })));
  }
  return sim;
}

function issabel() {
  const sim = new IssabelSimulator();
  sim.seed(Array.from({ length: issabelCount }, (_, i) => ({ extension: String(2000 + i), name: `Box User ${i}`, secret: `Box-Pass-${i}-0123456789` })));
  return sim;
}

async function main() {
  const [v, i] = await Promise.all([serveSimulator(counted(voipbin)), serveSimulator(counted(issabel))]);
  process.stdout.write(JSON.stringify({ voipbin: { url: v.url, accesskey: DEMO_ACCESSKEY, limit: REAL_LIMIT }, issabel: { url: i.url, auth: DEMO_USER } }) + '\n');
}
main();
