/** The shipped configs must stay valid: the demo as it is, the example with its variables set. */
import fs from 'node:fs';
import path from 'node:path';
import { registry } from '../adapters';
import { parseConfig } from '../src/config';

const read = (f: string) => fs.readFileSync(path.join(__dirname, '..', 'config', f), 'utf8');

it('config/demo.yaml is valid and names a tenant per backend', () => {
  const cfg = parseConfig(read('demo.yaml'), { registry, env: {} });
  expect(new Set(Object.values(cfg.tenants).map((t) => t.backend))).toEqual(new Set(Object.keys(registry)));
});

it('config/example.yaml is valid once its variables are set', () => {
  const env = { OPS_API_KEY: 'x'.repeat(20), VOIPBIN_ACCESSKEY: 'vb', VITALPBX_APP_KEY: 'k', ISSABEL_PASSWORD: 'p', CRM_WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' };
  expect(() => parseConfig(read('example.yaml'), { registry, env })).not.toThrow();
});
