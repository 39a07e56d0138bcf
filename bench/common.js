// What the bench scripts share: starting a node script and waiting for the line that says where it listens,
// the gateway's config file, and reading a process's resident memory from /proc.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const KEY = 'bench-api-key-0123456789';

/** Start `node [...nodeArgs] script ...args`; resolve with the child and the first match of `re` on its stdout
 * (whose later output is then discarded), reject if it exits first. */
function startNode(script, args, { re, env = {}, nodeArgs = [], children }) {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children?.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d) => {
      out += d.toString();
      const m = re.exec(out);
      if (m) {
        child.stdout.off('data', onData);
        child.stdout.resume();
        resolve({ child, m });
      }
    };
    child.stdout.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${script} exited ${code}: ${out}`)));
  });
}

/** The simulators' process: its one JSON line (URLs, credentials, a seeded VoIPBIN id). */
const BACKEND_LINE = /^(\{.*"voipbin".*\})$/m;
/** The gateway's listening line. */
const GATEWAY_URL = /"url":"(http:\/\/[^"]+)"/;

/** Write a gateway config to a fresh temporary file; JSON is YAML. */
function writeConfig(config, name) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), `pbxgw-${name}-`)), `${name}.yaml`);
  fs.writeFileSync(file, JSON.stringify(config));
  return file;
}

/** VmRSS (now) or VmHWM (peak) of a process, in MB. */
function rssMb(pid, field = 'VmHWM') {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : NaN;
  } catch {
    return NaN;
  }
}

module.exports = { root, KEY, startNode, BACKEND_LINE, GATEWAY_URL, writeConfig, rssMb };
