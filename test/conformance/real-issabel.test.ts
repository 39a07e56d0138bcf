/**
 * The conformance suite against a real Issabel pbxapi, when REAL_ISSABEL_URL names one (`.ci/run` starts the
 * vendor's own pbxapi where the CI machine provides it, and sets it), with
 * writes in 9900-9999. Without REAL_ISSABEL_URL this part is reported as skipped.
 *
 *   REAL_ISSABEL_URL=http://127.0.0.1:8765/pbxapi [REAL_ISSABEL_USER=admin] [REAL_ISSABEL_PASSWORD=...] npx jest test/conformance/real-issabel
 *
 * Writes in 9900-9999 (chan_sip devices) and 9800-9899 (PJSIP devices). Before each change, the extension under change is given settings the gateway cannot write (Follow-Me,
 * dictation, an emergency caller id) with pbxapi itself, so a change that erases them is caught.
 */
import request from 'supertest';
import { discoverSync } from './facts';
import type { GatewaySpec } from './gateway';
import { describeConformance } from './suite';

const url = process.env.REAL_ISSABEL_URL;
const WRITE_RANGE = { from: 9900, to: 9999 };
const PJSIP_RANGE = { from: 9800, to: 9899 };

if (!url) {
  // Said at once, so that a default run (which names no skipped test) still tells why.
  process.stderr.write('conformance against a real Issabel skipped: REAL_ISSABEL_URL is not set (.ci/run sets it where the vendor pbxapi can be started)\n');
  describe.skip('conformance: real Issabel: skipped: REAL_ISSABEL_URL is not set (.ci/run sets it where the vendor pbxapi can be started)', () => {
    it(`checks a real Issabel pbxapi through the gateway, with writes in ${WRITE_RANGE.from}-${WRITE_RANGE.to}`, () => undefined);
  });
} else {
  // Two tenants on the one PBX: the gateway's default chan_sip devices, and PJSIP devices (a PJSIP-only PBX),
  // whose keyword list pbxapi rebuilds differently on every update; each writes in a range of its own.
  const spec = (tenant: string, tech: 'sip' | 'pjsip'): GatewaySpec => ({
    label: `real Issabel at ${url} (${tech} devices)`,
    tenant,
    configText: [
      `api_keys: [{ id: placeholder, key_sha256: "${'0'.repeat(64)}", tenants: ["*"] }]`,
      'tenants:',
      `  ${tenant}:`,
      '    backend: issabel',
      `    base_url: ${JSON.stringify(url)}`,
      '    auth: { user: "${REAL_ISSABEL_USER:-admin}", password: "${REAL_ISSABEL_PASSWORD:-IssabelAmi2024}" }',
      '    tls: { verify: false }',
      `    tech: ${tech}`,
    ].join('\n'),
  });
  const targets = [
    { spec: spec('real-issabel', 'sip'), write: WRITE_RANGE, autoNumber: true },
    { spec: spec('real-issabel-pjsip', 'pjsip'), write: PJSIP_RANGE, autoNumber: false },
  ];

  /** pbxapi itself, beside the gateway: only to add settings the gateway cannot write. */
  async function pbxapi(): Promise<{ token: string; base: string }> {
    const base = url!.replace(/\/+$/, '');
    const res = await request(base)
      .post('/authenticate')
      .type('form')
      .send({ user: process.env.REAL_ISSABEL_USER || 'admin', password: process.env.REAL_ISSABEL_PASSWORD || 'IssabelAmi2024' });
    if (res.status !== 200 || typeof res.body?.access_token !== 'string') throw new Error(`pbxapi login for the out-of-band settings failed: HTTP ${res.status}`);
    return { token: res.body.access_token, base };
  }

  async function enrich(number: string): Promise<string[]> {
    const { token, base } = await pbxapi();
    const current = await request(base).get(`/extensions/${number}`).set('Authorization', `Bearer ${token}`);
    const name = current.body?.results?.[0]?.name;
    if (current.status !== 200 || typeof name !== 'string') throw new Error(`pbxapi GET /extensions/${number}: HTTP ${current.status}, no extension`);
    // In pbxapi's write format (the Follow-Me list as a dash-separated string: an array fails with a 500 on an
    // extension that has no Follow-Me yet).
    const body = {
      name,
      callerid_override: { emergency: `555000${number}` },
      followme: {
        enabled: 'yes', strategy: 'ringallv2-prim', ring_time: '30', initial_ring_time: '7', extension_list: number, confirm_calls: 'yes',
        destination_if_no_answer: `ext-local,vmu${number},1`, callerid_name_prefix: 'FM:', music_on_hold: 'Ring', alert_info: '',
        announcement_id: '0', remote_announce_id: '0', toolate_announce_id: '0', change_external_callerid: 'fixed', fixed_callerid: `555100${number}`,
      },
      dictation: { enabled: 'yes', email: `conformance-${number}@example.com`, format: 'ogg' },
    };
    const put = await request(base).put(`/extensions/${number}`).set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send(JSON.stringify(body));
    if (put.status !== 200) throw new Error(`pbxapi PUT /extensions/${number} (adding Follow-Me, dictation, emergency caller id) answered HTTP ${put.status}`);
    return ['vendor.followme.enabled', 'vendor.dictation.enabled', 'vendor.callerid_override.emergency'];
  }

  const facts = discoverSync(targets.map((t) => t.spec));
  targets.forEach((t, i) => describeConformance({ ...t, facts: facts[i], enrich, timeoutMs: 120_000 }));
}
