import { registry } from '../adapters';
import { ConfigError, configSecrets, interpolate, parseConfig } from '../src/config';

const parse = (yaml: string, env: NodeJS.ProcessEnv = {}) => parseConfig(yaml, { registry, env, source: 'test.yaml' });
const faultsOf = (yaml: string, env: NodeJS.ProcessEnv = {}) => {
  try {
    parse(yaml, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.faults;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

const good = `
server: { host: 127.0.0.1, port: 9090 }
api_keys:
  - { id: ops, key: "\${OPS_API_KEY}", tenants: ["*"] }
  - { id: acme-portal, key: "\${ACME_KEY:-acme-portal-default-key}", tenants: [acme] }
tenants:
  acme:
    backend: voipbin
    base_url: https://api.voipbin.net/v1.0
    auth: { accesskey: "\${VOIPBIN_ACCESSKEY}" }
`;

describe('config', () => {
  it('loads the issue example with env interpolation and defaults', () => {
    const cfg = parse(good, { OPS_API_KEY: 'ops-secret-key-0123456', VOIPBIN_ACCESSKEY: 'vb_abc' });
    expect(cfg.server).toMatchObject({ host: '127.0.0.1', port: 9090, request_budget_ms: 15000, body_limit: '1mb', rate_limit: { requests: 600, window_s: 60 } });
    expect(cfg.api_keys.map((k) => k.key)).toEqual(['ops-secret-key-0123456', 'acme-portal-default-key']);
    expect(cfg.tenants.acme.auth).toEqual({ accesskey: 'vb_abc' });
    expect(configSecrets(cfg)).toEqual(expect.arrayContaining(['ops-secret-key-0123456', 'vb_abc']));
  });

  it('collects the heap at 50 % growth unless told otherwise, and refuses a factor past 400 %', () => {
    const env = { OPS_API_KEY: 'ops-secret-key-0123456', VOIPBIN_ACCESSKEY: 'vb_abc' };
    expect(parse(good, env).server.heap_growing_percent).toBe(50);
    expect(parse(good.replace('port: 9090', 'port: 9090, heap_growing_percent: 0'), env).server.heap_growing_percent).toBe(0);
    expect(faultsOf(good.replace('port: 9090', 'port: 9090, heap_growing_percent: 500'), env)).toEqual([{ pointer: '/server/heap_growing_percent', detail: 'must be <= 400' }]);
  });

  it('reports every fault at once, each with its path', () => {
    const faults = faultsOf(
      `
server: { port: 99999, colour: blue }
api_keys:
  - { id: ops, key: short, tenants: [nowhere] }
tenants:
  acme:
    backend: voipbin
    base_url: ftp://x
    auth: { accesskey: "\${MISSING_VAR}", extra: 1 }
  Bad_Name:
    backend: voipbin
    simulator: true
  other:
    backend: asterisk-of-doom
`,
    );
    const pointers = faults.map((f) => f.pointer);
    expect(pointers).toEqual(
      expect.arrayContaining([
        '/server/port',
        '/server/colour',
        '/api_keys/0/key',
        '/api_keys/0/tenants/0',
        '/tenants/acme/auth/accesskey',
        '/tenants/acme/base_url',
        '/tenants/acme/auth',
        '/tenants/other/backend',
        '/tenants',
      ]),
    );
    expect(faults.find((f) => f.pointer === '/tenants/acme/auth/accesskey')!.detail).toMatch(/MISSING_VAR is not set/);
    expect(faults.find((f) => f.pointer === '/tenants/other/backend')!.detail).toMatch(/unknown backend; known: voipbin/);
  });

  it('needs base_url and auth unless the tenant runs on a simulator', () => {
    const faults = faultsOf(`api_keys: [{ id: a, key: aaaaaaaaaaaaaaaaaaaa, tenants: ["*"] }]\ntenants: { x: { backend: voipbin } }`);
    expect(faults.map((f) => f.pointer)).toEqual(expect.arrayContaining(['/tenants/x/base_url', '/tenants/x/auth']));
    expect(() => parse(`api_keys: [{ id: a, key: aaaaaaaaaaaaaaaaaaaa, tenants: ["*"] }]\ntenants: { x: { backend: voipbin, simulator: true } }`)).not.toThrow();
  });

  it('refuses duplicate key ids and keys, and YAML that does not parse', () => {
    const faults = faultsOf(
      `api_keys: [{ id: a, key: aaaaaaaaaaaaaaaaaaaa, tenants: ["*"] }, { id: a, key: aaaaaaaaaaaaaaaaaaaa, tenants: ["*"] }]\ntenants: { x: { backend: voipbin, simulator: true } }`,
    );
    expect(faults.map((f) => f.pointer)).toEqual(['/api_keys/1/id', '/api_keys/1/key']);
    expect(faultsOf('tenants: [unclosed')[0].detail).toMatch(/^YAML/);
  });

  it('interpolates only ${NAME} forms, and keeps $${ literal', () => {
    const faults: { pointer: string; detail: string }[] = [];
    expect(interpolate({ a: ['${A}-$${B}-${C:-c}'] }, { A: '1' }, faults)).toEqual({ a: ['1-${B}-c'] });
    expect(faults).toEqual([]);
  });

  it('names the file in the error message', () => {
    expect(() => parse('api_keys: []\ntenants: {}')).toThrow(/^test\.yaml: \d+ fault/);
  });
});

describe('configSecrets', () => {
  it('collects secret-named values only, so names stay readable in logs', () => {
    const cfg = parseConfig(
      `api_keys: [{ id: a, key: api-key-value-0123456789, tenants: ["*"] }]
tenants:
  v: { backend: vitalpbx, base_url: "https://v/api/v2", auth: { app_key: app-key-value, tenant: vitalpbx } }
  i: { backend: issabel, base_url: "https://i/pbxapi", auth: { user: admin, password: issabel-pass } }`,
      { registry, env: {} },
    );
    expect(configSecrets(cfg).sort()).toEqual(['api-key-value-0123456789', 'app-key-value', 'issabel-pass']);
  });
});

it('needs exactly one of key and key_sha256 per API key', () => {
  const base = 'tenants: { x: { backend: voipbin, simulator: true } }\napi_keys:\n';
  const neither = faultsOf(`${base}  - { id: a, tenants: ["*"] }`);
  expect(neither).toEqual([{ pointer: '/api_keys/0', detail: 'give exactly one of key and key_sha256' }]);
  const both = faultsOf(`${base}  - { id: a, key: aaaaaaaaaaaaaaaaaaaa, key_sha256: ${'a'.repeat(64)}, tenants: ["*"] }`);
  expect(both.map((f) => f.pointer)).toEqual(['/api_keys/0']);
});

describe('URLs the gateway connects to', () => {
  const head = 'api_keys: [{ id: a, key: aaaaaaaaaaaaaaaaaaaa, tenants: ["*"] }]\n';
  const issabel = (url: string) => `${head}tenants:\n  pbx: { backend: issabel, base_url: "${url}", auth: { user: admin, password: p } }\n`;

  it('must parse whole and name a host, as the loader and check-config both require', () => {
    for (const url of ['http://', 'https://', 'http:///pbxapi', 'http://:8080/pbxapi', 'http://pbx:99999/pbxapi', 'http://pb x/pbxapi', 'http://%zz/']) {
      const faults = faultsOf(issabel(url));
      // Some of them fail the schema's `uri` format as well: each fault is about base_url, and one says why.
      expect({ url, pointers: [...new Set(faults.map((f) => f.pointer))] }).toEqual({ url, pointers: ['/tenants/pbx/base_url'] });
      expect({ url, faults }).toEqual({ url, faults: expect.arrayContaining([{ pointer: '/tenants/pbx/base_url', detail: expect.stringMatching(/usable URL|must name a host/) }]) });
    }
    for (const url of ['http://pbx/pbxapi', 'https://10.0.0.5:8443/pbxapi', 'http://[::1]:8080/pbxapi']) expect(() => parse(issabel(url))).not.toThrow();
  });

  it('checks login_url and state.redis_url the same way', () => {
    const vb = `${head}tenants:\n  v: { backend: voipbin, base_url: "https://api.voipbin.net/v1.0", login_url: "https://", auth: { username: u, password: p } }\nstate: { redis_url: "redis://" }\n`;
    expect(faultsOf(vb).map((f) => f.pointer).sort()).toEqual(['/state/redis_url', '/tenants/v/login_url']);
    expect(parse(vb.replace('login_url: "https://"', 'login_url: "https://api.voipbin.net/auth/login"').replace('redis://"', 'redis://127.0.0.1:6379/2"')).state.redis_url).toBe('redis://127.0.0.1:6379/2');
  });
});
