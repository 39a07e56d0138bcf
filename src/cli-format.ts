/**
 * Output of the admin CLI (src/cli.ts): aligned plain-text tables, key/value records, problem lines and the
 * progress indicator. Both CLI modes (against a gateway, or direct from a config file) print through here, so
 * one command looks the same whichever way it reached its tenant.
 */
import type { Capabilities, Extension } from './contract';

/** Where the CLI writes: process.stdout/stderr, or a test's sink. */
export interface OutStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

export interface ProblemLike {
  title: string;
  detail?: string;
  status?: number;
  errors?: { pointer: string; detail: string }[];
}

export const USAGE = `Usage: pbx-gateway <command> [options]

  serve [--config <file>]                      run the gateway (the embedded demo without a config)
  check-config <file>                          validate a config file; exit 2 listing every fault
  tenants                                      list tenants, their backends and capabilities
  extensions list <tenant> [--page-size N] [--page-token T] [--all] [--progress]
  extensions get <tenant> <id> [--show-password]
  extensions create <tenant> --name NAME [--extension N] [--description D] [--password P]
  extensions delete <tenant> <id> [<id> ...]
  migrate --from <tenant> --to <tenant> [--dry-run] [--on-conflict skip|update|fail]
          [--passwords keep|generate] [--accept-loss description,...] [--extensions 100,101] [--progress]

Reaching the tenants (every command but serve and check-config):
  --url <url>      a running gateway (env PBX_GATEWAY_URL, default http://127.0.0.1:8080)
  --key <key>      its API key (env PBX_GATEWAY_KEY)
  --config <file>  no server: load this config and call the backends from this process
Output: aligned tables; --json prints the raw JSON objects.
`;

export function cell(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (typeof v === 'string') return v.replace(/[\r\n\t]+/g, ' ');
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** Columns padded to their widest cell, two spaces apart, no trailing blanks; a bold header only when asked. */
export function table(rows: readonly object[], columns: readonly string[], opts: { bold?: boolean } = {}): string {
  const grid = [columns.map((c) => c.toUpperCase()), ...rows.map((r) => columns.map((c) => cell((r as Record<string, unknown>)[c])))];
  const widths = columns.map((_, i) => Math.max(...grid.map((line) => line[i].length)));
  const lines = grid.map((line) =>
    line
      .map((text, i) => (i === line.length - 1 ? text : text.padEnd(widths[i])))
      .join('  ')
      .trimEnd(),
  );
  if (opts.bold) lines[0] = `\u001b[1m${lines[0]}\u001b[0m`;
  return lines.join('\n') + '\n';
}

/** One object as `key: value` lines with the values aligned. */
export function record(obj: object, keys: readonly string[]): string {
  const o = obj as Record<string, unknown>;
  const shown = keys.filter((k) => k in o);
  const width = Math.max(0, ...shown.map((k) => k.length)) + 1;
  return shown.map((k) => `${(k + ':').padEnd(width)}  ${cell(o[k])}`).join('\n') + '\n';
}

export const EXTENSION_COLUMNS = ['id', 'extension', 'name', 'username', 'domain'] as const;
export const EXTENSION_FIELDS = ['id', 'tenant', 'backend', 'extension', 'name', 'description', 'username', 'password', 'domain', 'direct_uri', 'created_at', 'updated_at'] as const;

export function extensionRecord(ext: Extension): string {
  return record(ext, EXTENSION_FIELDS);
}

/** What a tenant can do, compactly: its extension operations and its extra features. */
export function capabilitySummary(caps: Capabilities): { extensions: string; features: string } {
  const on = (o: object) =>
    Object.entries(o)
      .filter(([, v]) => v === true)
      .map(([k]) => k);
  const { extensions, writable_fields: _writable, ...features } = caps;
  return { extensions: on(extensions).join(',') || 'none', features: on(features).join(',') || '-' };
}

/** `error: <title>: <detail>` and one indented line per field fault. */
export function problemText(p: ProblemLike): string {
  const head = `error: ${p.title}${p.detail ? `: ${p.detail}` : ''}`;
  return [head, ...(p.errors ?? []).map((e) => `  ${e.pointer || '/'}: ${e.detail}`)].join('\n') + '\n';
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** A running count on stderr: rewritten in place on a terminal, one line per update otherwise. */
export function progress(stream: OutStream, enabled: boolean) {
  const tty = Boolean(stream.isTTY);
  let shown = false;
  return {
    update(count: number) {
      if (!enabled) return;
      const text = `fetched ${count} extension(s)`;
      stream.write(tty ? `\r\u001b[2K${text}` : `${text}\n`);
      shown = true;
    },
    done() {
      if (enabled && shown && tty) stream.write('\n');
    },
  };
}
