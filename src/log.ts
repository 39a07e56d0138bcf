/**
 * The root logger. Secrets are kept out in three layers, because one is never enough:
 *  1. pino `redact` removes secret-named fields (password, secret, token, app_key...) at any usual depth;
 *  2. URLs are logged through `redactUrl`, which blanks credential query parameters (`?token=`, `?accesskey=`);
 *  3. a last scrub of each finished line replaces every secret value the gateway knows of (from its config:
 *     API keys, backend credentials) and any credential-looking query parameter that slipped through.
 */
import pino, { type Logger, type DestinationStream } from 'pino';

const SECRET_KEYS = [
  'password',
  'secret',
  'token',
  'access_token',
  'refresh_token',
  'accesskey',
  'app_key',
  'app-key',
  'authorization',
  'cookie',
  'set-cookie',
  'key',
];

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const k of SECRET_KEYS) {
    const p = /^[A-Za-z_$][\w$]*$/.test(k) ? k : `["${k}"]`;
    const join = (prefix: string) => (p.startsWith('[') ? `${prefix}${p}` : `${prefix}.${p}`);
    // Two levels: every object the gateway logs is flat or one level deep; deeper values are still caught by the
    // last scrub of known secret values, and each extra wildcard level costs every line.
    paths.push(p, join('*'));
  }
  return paths;
}

/** Query parameters that carry credentials: these names, and any name ending in one of the credential words
 * (`x-api-key`, `client_secret`, `id_token`...), compared case-insensitively after percent-decoding. */
const SECRET_PARAMS = new Set(['key', 'api_key', 'apikey', 'api-key', 'token', 'access_token', 'refresh_token', 'accesskey', 'access_key', 'app_key', 'app-key', 'password', 'passwd', 'secret', 'auth', 'authorization', 'jwt', 'signature', 'sig', 'credential', 'credentials']);
const SECRET_PARAM_SUFFIX = /[_.-](?:token|key|apikey|accesskey|secret|password|passwd)$/;
/** `page_token` is the gateway's own paging cursor, not a credential: it stays readable. */
const NOT_SECRET = new Set(['page_token', 'next_page_token']);
const QUERY_PARAM = /([?&;])([^=&#?\s"'<>]{1,100})=([^&#\s"]*)/g;

function isSecretParam(raw: string): boolean {
  let name = raw;
  if (name.includes('%') || name.includes('+')) {
    try {
      name = decodeURIComponent(name.replace(/\+/g, ' '));
    } catch {
      // a broken escape: judge the name as written
    }
  }
  name = name.trim().toLowerCase();
  if (NOT_SECRET.has(name)) return false;
  return SECRET_PARAMS.has(name) || SECRET_PARAM_SUFFIX.test(name);
}

/** Blank the values of credential query parameters in a URL (or any text holding one). */
export function redactUrl(url: string): string {
  // Most URLs carry no parameter at all: no regular expression to run over them.
  if (!url.includes('=')) return url;
  return url.replace(QUERY_PARAM, (whole, sep: string, name: string, value: string) => (value && isSecretParam(name) ? `${sep}${name}=[REDACTED]` : whole));
}

/** A URL fit to show or print: no user, password, query or fragment (a key or token may sit in any of them). */
export function urlWithoutCredentials(value: string): string {
  try {
    const u = new URL(value);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString();
  } catch {
    return value.replace(/\/\/[^/@]*@/, '//').replace(/[?#].*$/, '');
  }
}

const knownSecrets = new Set<string>();
let secretPattern: RegExp | null = null;

/** Tell the logger about a secret value (from config) that must never appear in a line, whatever the field. */
export function registerSecret(value: unknown): void {
  if (typeof value !== 'string' || value.length < 4 || knownSecrets.has(value)) return;
  knownSecrets.add(value);
  const escaped = [...knownSecrets]
    .sort((a, b) => b.length - a.length)
    .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  secretPattern = new RegExp(escaped.join('|'), 'g');
}

export function scrub(line: string): string {
  let out = redactUrl(line);
  if (secretPattern) out = out.replace(secretPattern, '[REDACTED]');
  return out;
}

/** Errors are logged by name, code and message only: a raw axios error carries request headers and URLs. */
function errSerializer(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const out: Record<string, unknown> = { type: err.name, message: redactUrl(err.message) };
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') out.code = code;
  if (err.cause !== undefined && err.cause !== err) out.cause = errSerializer(err.cause);
  return out;
}

export interface LoggerOptions {
  level?: string;
  /** Where lines go (tests capture them); default stdout. */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: 'pbx-gateway' },
      redact: { paths: redactPaths(), censor: '[REDACTED]' },
      serializers: { err: errSerializer },
      hooks: { streamWrite: scrub },
    },
    // Asynchronous, and in batches of 4 KB (about 20 access lines) flushed at least every 250 ms: under load one
    // write per batch instead of one per line or two, each a round trip through libuv's thread pool.
    opts.destination ?? pino.destination({ sync: false, minLength: 4096, periodicFlush: 250 }),
  );
}

/** What a request's code logs through: the root logger with the request's bindings added to each line. A pino
 * child per request would rebuild its serializers and redaction every time; this costs one small object. */
export class RequestLog {
  constructor(
    private readonly root: Logger,
    readonly bindings: Record<string, unknown>,
  ) {}

  debug(obj: object, msg: string): void {
    this.write('debug', obj, msg);
  }
  info(obj: object, msg: string): void {
    this.write('info', obj, msg);
  }
  warn(obj: object, msg: string): void {
    this.write('warn', obj, msg);
  }
  error(obj: object, msg: string): void {
    this.write('error', obj, msg);
  }

  private write(level: 'debug' | 'info' | 'warn' | 'error', obj: object, msg: string): void {
    if (this.root.isLevelEnabled(level)) this.root[level]({ ...this.bindings, ...obj }, msg);
  }
}
