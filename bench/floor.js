// A third reference: the least Express 5 and axios can do for get one, built the way the gateway builds them
// (no x-powered-by or ETag, `new Axios` with only a base URL and the gateway's lean adapter, no transforms)
// and doing nothing else: no auth, mapping, validation, logging, metrics or resilience; the backend's body is
// answered as it came. The gateway can be no cheaper than this while it keeps Express and axios.
// Usage: TARGET=http://127.0.0.1:1234 ACCESSKEY=... node bench/floor.js  (after `npm run build`)
const http = require('node:http');
const https = require('node:https');
const express = require('express');
const { Axios } = require('axios');
const { leanAdapter } = require('../dist/src/lean-adapter');

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const httpsAgent = new https.Agent({ keepAlive: true });
const client = new Axios({
  baseURL: `${process.env.TARGET}/v1.0/`,
  adapter: leanAdapter({ agentFor: (target) => (target.secure ? httpsAgent : httpAgent) }),
});
const query = `?accesskey=${encodeURIComponent(process.env.ACCESSKEY)}`;
const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.get('/extensions/:id', async (req, res) => {
  try {
    const r = await client.request({ method: 'GET', url: `extensions/${req.params.id}${query}`, headers: { accept: 'application/json' } });
    res.status(r.status).type('json').send(r.data);
  } catch (err) {
    res.status(502).json({ message: err.message });
  }
});
const server = app.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` }) + '\n'));
// Exit on SIGTERM (bench/cpu.js stops it so), so that a --cpu-prof profile is written.
process.on('SIGTERM', () => process.exit(0));
