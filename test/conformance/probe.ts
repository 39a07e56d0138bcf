/**
 * Discovery before the tests are declared: jest declares tests synchronously, but which checks apply (and which
 * are skipped, with the reason) depends on what the tenant says about itself. The probe builds the gateway
 * from the same config, asks it (GET /v1/tenants/{t}, the list, /metrics) and reports facts as JSON. It runs in
 * a child process (`facts.ts`), since a jest test file cannot wait for it while declaring tests.
 *
 * Run alone: node -r ./test/conformance/ts-register.js test/conformance/probe.ts < spec.json
 */
import request from 'supertest';
import type { Capabilities } from '../../schemas/types';
import { buildGateway, clock, CLOCK_JUMPS_MS, sessionEvents, type ConformanceGateway, type GatewaySpec } from './gateway';

export interface Facts {
  ok: boolean;
  /** Why the tenant could not be probed (config fault, unknown tenant, backend unreachable...). */
  error?: string;
  backend?: string;
  capabilities?: Capabilities;
  /** How many extensions the tenant lists (null when it cannot list). */
  extensions?: number | null;
  /** How far the gateway clock had to move before the backend session was renewed or logged in again
   * (null: no move did it, so renewal cannot be forced on this tenant). */
  renewalJumpMs?: number | null;
}

function problemText(res: request.Response): string {
  const b = res.body as { type?: string; detail?: string } | undefined;
  return `HTTP ${res.status}${b?.type ? ` ${b.type}` : ''}${b?.detail ? `: ${b.detail}` : ''}`;
}

async function metricsText(gw: ConformanceGateway): Promise<string> {
  const res = await request(gw.url).get('/metrics');
  return res.text;
}

export async function probe(spec: GatewaySpec): Promise<Facts> {
  let gw: ConformanceGateway | undefined;
  try {
    gw = await buildGateway(spec, ['read']);
    const t = `/v1/tenants/${encodeURIComponent(spec.tenant)}`;
    const tenant = await request(gw.url).get(t).set(gw.auth);
    if (tenant.status !== 200) return { ok: false, error: `GET ${t} answered ${problemText(tenant)}` };
    const capabilities = tenant.body.capabilities as Capabilities;
    let extensions: number | null = null;
    if (capabilities.extensions.list) {
      extensions = 0;
      let token: string | null = null;
      for (let page = 0; page < 100; page++) {
        const res: request.Response = await request(gw.url)
          .get(`${t}/extensions`)
          .query({ page_size: 500, ...(token ? { page_token: token } : {}) })
          .set(gw.auth);
        if (res.status !== 200) return { ok: false, error: `GET ${t}/extensions answered ${problemText(res)}` };
        extensions += (res.body.items as unknown[]).length;
        token = res.body.next_page_token;
        if (!token) break;
      }
    }
    // Renewal: a backend call to open the session, then the clock moved ahead and another call.
    const call = () => request(gw!.url).get(capabilities.extensions.list ? `${t}/extensions?page_size=1` : `${t}/extensions/conformance-probe`).set(gw!.auth);
    await call();
    let renewalJumpMs: number | null = null;
    const before = sessionEvents(await metricsText(gw), spec.tenant);
    try {
      for (const jump of CLOCK_JUMPS_MS) {
        clock.offsetMs = jump;
        await call();
        const after = sessionEvents(await metricsText(gw), spec.tenant);
        if (after.login + after.renewal > before.login + before.renewal) {
          renewalJumpMs = jump;
          break;
        }
      }
    } finally {
      clock.offsetMs = 0;
    }
    return { ok: true, backend: tenant.body.backend, capabilities, extensions, renewalJumpMs };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    await gw?.close().catch(() => undefined);
  }
}

if (require.main === module) {
  let input = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (c) => (input += c));
  process.stdin.on('end', () => {
    const specs = JSON.parse(input) as GatewaySpec[];
    (async () => {
      const out: Facts[] = [];
      for (const s of specs) out.push(await probe(s));
      process.stdout.write(JSON.stringify(out));
      process.exit(0);
    })().catch((err: unknown) => {
      process.stderr.write(`probe failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
  });
}
