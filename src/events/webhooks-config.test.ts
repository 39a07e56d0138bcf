import { randomBytes } from 'node:crypto';
import { registry } from '../../adapters';
import { ConfigError, configSecrets, parseConfig } from '../config';
import { displayUrl, isLoopbackHost } from './webhooks-config';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const base = {
  api_keys: [{ id: 'ops', key: 'webhooks-config-key-0001', tenants: ['*'] }],
  // Any backend will do: a simulated tenant needs no URL or credentials.
  tenants: { acme: { backend: Object.keys(registry)[0], simulator: true } },
};
const parse = (webhooks: object) => parseConfig(JSON.stringify({ ...base, webhooks }), { registry, env: { HOOK_SECRET: SECRET } });
function faults(webhooks: object): Record<string, string> {
  try {
    parse(webhooks);
  } catch (err) {
    if (err instanceof ConfigError) {
      const out: Record<string, string> = {};
      for (const f of err.faults) out[f.pointer] = out[f.pointer] ? `${out[f.pointer]} | ${f.detail}` : f.detail;
      return out;
    }
    throw err;
  }
  return {};
}

it('takes subscriptions with defaults, the secret from the environment, and registers it (and URL credentials) as secrets', () => {
  const config = parse({ subscriptions: [{ id: 'crm', url: 'https://user:url-password-1@hooks.example.com/in?token=query-token-123', secret: '${HOOK_SECRET}', types: ['extension.created'] }] });
  expect(config.webhooks).toEqual({
    subscriptions: [{ id: 'crm', url: 'https://user:url-password-1@hooks.example.com/in?token=query-token-123', secret: SECRET, types: ['extension.created'] }],
    maxConsecutiveFailures: 20,
    timeoutMs: 10_000,
    retry: { initialMs: 5000, maxMs: 3_600_000, giveUpAfterMs: 86_400_000 },
  });
  expect(configSecrets(config)).toEqual(expect.arrayContaining([SECRET, SECRET.slice('whsec_'.length), 'url-password-1', 'query-token-123']));
  expect(parse({ subscriptions: [] }).webhooks.subscriptions).toEqual([]);
  expect(parseConfig(JSON.stringify(base), { registry, env: {} }).webhooks.subscriptions).toEqual([]);
});

it('refuses plain http except to a loopback host when allowed, and other faults, each with its pointer', () => {
  const sub = (url: string, extra: object = {}) => ({ id: 'crm', url, secret: SECRET, ...extra });
  expect(faults({ subscriptions: [sub('http://hooks.example.com/in')], allow_http_loopback: true })).toEqual({ '/webhooks/subscriptions/0/url': expect.stringMatching(/must be an https URL.*loopback/) });
  expect(faults({ subscriptions: [sub('http://127.0.0.1:9000/in')] })).toEqual({ '/webhooks/subscriptions/0/url': expect.stringMatching(/allow_http_loopback: true/) });
  expect(faults({ subscriptions: [sub('http://127.0.0.1:9000/in'), { ...sub('http://[::1]:9000/in'), id: 'b' }, { ...sub('http://localhost/in'), id: 'c' }], allow_http_loopback: true })).toEqual({});
  expect(faults({ subscriptions: [sub('https://')] })).toEqual({ '/webhooks/subscriptions/0/url': expect.stringMatching(/does not parse|must name a host/) });
  expect(faults({ subscriptions: [sub('ftp://hooks.example.com/')] })).toEqual({ '/webhooks/subscriptions/0/url': expect.any(String) });
  expect(faults({ subscriptions: [sub('https://a.example.com/'), sub('https://b.example.com/', { tenants: ['acme', 'nope'] })] })).toEqual({
    '/webhooks/subscriptions/1/id': "duplicate subscription id 'crm'",
    '/webhooks/subscriptions/1/tenants/1': "unknown tenant 'nope'",
  });
  expect(faults({ subscriptions: [{ id: 'crm', url: 'https://a.example.com/', secret: 'not-a-standard-secret' }] })).toEqual({ '/webhooks/subscriptions/0/secret': expect.any(String) });
  expect(faults({ subscriptions: [sub('https://a.example.com/', { types: ['extension.renamed'] })] })).toEqual({ '/webhooks/subscriptions/0/types/0': expect.stringMatching(/must be one of/) });
  expect(faults({ subscriptions: [{ id: 'crm', url: 'https://a.example.com/', secret: '${UNSET_SECRET}' }] })).toEqual({ '/webhooks/subscriptions/0/secret': expect.stringContaining('environment variable UNSET_SECRET is not set') });
});

it('knows loopback hosts and shows URLs without credentials', () => {
  expect(['127.0.0.1', '127.5.6.7', '::1', '[::1]', 'localhost', 'api.localhost', '::ffff:127.0.0.1'].every(isLoopbackHost)).toBe(true);
  expect(['10.0.0.1', '128.0.0.1', 'example.com', 'localhost.example.com', '::2'].some(isLoopbackHost)).toBe(false);
  expect(displayUrl('https://u:p@hooks.example.com:8443/in?token=x#frag')).toBe('https://hooks.example.com:8443/in');
});
