// The second reference: a naive Express 5 + axios handler for get one, written the plain way (axios with
// its defaults, express.json, res.json), that maps the backend's extension to the canonical one and validates it
// with ajv. No auth, no logging, no resilience: it shows what Express and axios cost in their plain use on this
// machine, in the same run as the gateway. Usage: TARGET=http://127.0.0.1:1234 ACCESSKEY=... node bench/naive.js
const express = require('express');
const axios = require('axios');
const Ajv2020 = require('ajv/dist/2020').default;
const addFormats = require('ajv-formats').default;
const schema = require('../schemas/extension.schema.json');

const ajv = new Ajv2020({ strict: false });
addFormats(ajv);
const valid = ajv.compile(schema);
const iso = (s) => (s ? new Date(/[zZ]$|[+-]\d\d:?\d\d$/.test(s) ? s : s.replace(' ', 'T') + 'Z').toISOString() : null);
const http = axios.create({ baseURL: `${process.env.TARGET}/v1.0/` });
const app = express();
app.use(express.json());
app.get('/extensions/:id', async (req, res) => {
  try {
    const { data: raw } = await http.get(`extensions/${req.params.id}`, { params: { accesskey: process.env.ACCESSKEY } });
    const ext = {
      id: raw.id,
      tenant: 'cloud',
      backend: 'voipbin',
      extension: raw.extension ?? '',
      name: raw.name ?? '',
      description: raw.detail || null,
      username: raw.username || null,
      domain: raw.domain_name || null,
      direct_uri: raw.direct_hash ? `sip:direct.${raw.direct_hash}@sip.voipbin.net` : null,
      created_at: iso(raw.tm_create),
      updated_at: iso(raw.tm_update),
    };
    if (!valid(ext)) return res.status(502).json({ errors: valid.errors });
    res.json(ext);
  } catch (err) {
    res.status(502).json({ message: err.message });
  }
});
const server = app.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` }) + '\n'));
