/**
 * Output of the admin CLI (src/cli.ts): aligned plain-text tables, key/value records, problem lines and the
 * progress indicator. Both CLI modes (against a gateway, or direct from a config file) print through here, so
 * one command looks the same whichever way it reached its tenant.
 */
import { EVENTS_HELP } from './cli-events';
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
  migrate --from <tenant> --to <tenant> [--apply] [--on-conflict skip|update|fail]
          [--passwords keep|generate] [--accept-loss description,...] [--extensions 100,101] [--progress]
  import <tenant> --file rows.csv|rows.ndjson [--apply] [--on-conflict skip|update|fail] [--accept-loss f,...]
  plan -f <desired-state.yaml> [--all]         what applying the file would change (exit 0 none, 2 some, 1 error)
  apply -f <desired-state.yaml> [--yes] [--accept-loss f,...] [--max-prune-share 0.1]
  drift -f <desired-state.yaml>                what differs on the PBXes from the file (exit 0 none, 2 some, 1 error)
  export --desired-state --tenant <name>[,<name>...]   tenants as a desired-state file (YAML)
  events [--follow] [--after C] [--tenant a,b] [--type t,...]   change events, oldest first; --follow waits for more
  webhooks list|deliveries <id>|enable <id>    webhook subscriptions, their recent attempts; enable one again
  help [<command>]                             this text, or one command's (as <command> --help)

Reaching the tenants (every command but serve and check-config):
  --url <url>      a running gateway (env PBX_GATEWAY_URL, default http://127.0.0.1:8080)
  --key <key>      its API key (env PBX_GATEWAY_KEY)
  --config <file>  no server: load this config and call the backends from this process
Output: aligned tables; --json prints the raw JSON objects.
`;

const REACHING = `
Reaching the tenants:
  --url <url>      a running gateway (env PBX_GATEWAY_URL, default http://127.0.0.1:8080; a trailing /v1 is fine)
  --key <key>      its API key (env PBX_GATEWAY_KEY)
  --config <file>  no server: load this config and call the backends from this process
  --json           print the raw JSON objects instead of tables
`;

/** Each command's own help: `pbx-gateway <command> --help` or `pbx-gateway help <command>`. */
export const COMMAND_HELP: Record<string, string> = {
  events: EVENTS_HELP,
  serve: `Usage: pbx-gateway serve [--config <file>]

Run the gateway. Without --config (or PBX_GATEWAY_CONFIG) it serves the embedded demo, whose tenants run on
in-process simulators. PORT overrides the config's port. Exits 2 when the config has faults or its port is in use.
`,
  'check-config': `Usage: pbx-gateway check-config <file>

Validate a config file as the gateway would load it (every tenant built, then closed). Prints ok, or every fault
with its path and exits 2.
`,
  tenants: `Usage: pbx-gateway tenants [--url <url> --key <key> | --config <file>] [--json]

List the tenants, their backends and capabilities.
${REACHING}`,
  extensions: `Usage: pbx-gateway extensions <list|get|create|delete> ...

  extensions list <tenant> [--page-size N] [--page-token T] [--all] [--progress]
  extensions get <tenant> <id> [--show-password]
  extensions create <tenant> --name NAME [--extension N] [--description D] [--password P]
  extensions delete <tenant> <id> [<id> ...]

pbx-gateway help extensions <sub> for one of them.
${REACHING}`,
  'extensions list': `Usage: pbx-gateway extensions list <tenant> [--page-size N] [--page-token T] [--all] [--progress]

List a tenant's extensions: one page (--page-size 1-500, default 50; the next page's token on stderr), or every
page with --all (a progress count on a terminal, or with --progress).
${REACHING}`,
  'extensions get': `Usage: pbx-gateway extensions get <tenant> <id> [--show-password]

Show one extension; --show-password includes its SIP password (the key needs the secrets scope).
${REACHING}`,
  'extensions create': `Usage: pbx-gateway extensions create <tenant> --name NAME [--extension N] [--description D] [--password P]

Create an extension. Without --password the gateway generates one and it is shown only this once.
${REACHING}`,
  'extensions delete': `Usage: pbx-gateway extensions delete <tenant> <id> [<id> ...]

Delete one extension, or up to 500 in one batch (one line per id; exit 1 when any was not deleted).
${REACHING}`,
  migrate: `Usage: pbx-gateway migrate --from <tenant> --to <tenant> [--apply] [--on-conflict skip|update|fail]
          [--passwords keep|generate] [--accept-loss description,...] [--extensions 100,101] [--progress]

Copy extensions from one tenant to another. By default (or with --dry-run) it only prints the plan: each item's
action (create, update, skip, conflict, invalid) and a summary; nothing is written. --apply runs it and prints the
outcome counts. Exit 1, naming them on stderr, when any item conflicts, is invalid, fails or is not done.
${REACHING}`,
  import: `Usage: pbx-gateway import <tenant> --file rows.csv|rows.ndjson [--apply] [--on-conflict skip|update|fail]
          [--accept-loss description,...] [--progress]

Create (or update) a tenant's extensions from a CSV file (a header row: extension,name,description,password) or
NDJSON (.ndjson, .jsonl). By default (or with --dry-run) it only prints the plan: each row's action and a summary;
nothing is written. --apply writes it (a large import goes on as a job, followed to its end) and prints the
outcome counts. Exit 1, naming them on stderr, when any row conflicts, is invalid, fails or is not done.
${REACHING}`,
  plan: `Usage: pbx-gateway plan -f <desired-state.yaml> [--all] [--json]

Compare a desired-state file (YAML or JSON) with its tenants as they are now, and print each item that would
change: create, update (with the fields; passwords only as changed), delete (where the file prunes), lossy (a field
the backend cannot hold), invalid (with the reason); --all lists unchanged items too. Nothing is written.
\${NAME} in a password is read from this command's environment. Exit 0 when nothing would change, 2 when something
would, 1 on any error (an invalid item, an unset variable, an unreachable gateway).
${REACHING}`,
  apply: `Usage: pbx-gateway apply -f <desired-state.yaml> [--yes] [--accept-loss description,...] [--max-prune-share S]

Plan (as plan does), print the plan, ask (or not, with --yes), then apply it: one job per tenant with changes,
followed to its end. The gateway refuses, writing nothing, when the file or the tenants changed since the plan, a
field a backend cannot hold is not named in --accept-loss, or a prune would delete more than --max-prune-share of a
tenant (default 0.1). Exit 0 when everything was applied (or nothing needed to be), 1 otherwise.
${REACHING}`,
  drift: `Usage: pbx-gateway drift -f <desired-state.yaml> [--json]

What differs on the PBXes from the file: missing (in the file, not on the PBX), changed (with the fields), extra
(on the PBX, not in the file, where the file prunes). For a scheduled check. Exit 0 when nothing drifted, 2 when
something did, 1 on any error.
${REACHING}`,
  export: `Usage: pbx-gateway export --desired-state --tenant <name>[,<name>...] [--json]

Print tenants as a desired-state file (YAML; JSON with --json) that plans to no changes: their extensions (without
passwords: left out, a password is left alone) and ring groups. Commit it, edit it, plan it in CI, apply it.
${REACHING}`,
  webhooks: `Usage: pbx-gateway webhooks <list|deliveries|enable> ...

  webhooks list                each subscription: state, URL (no credentials), tenants, types, consecutive
                               failures, lag (age of the oldest event waiting) and the last attempt
  webhooks deliveries <id>     its recent attempts, newest first: event, attempt, outcome, answer code or failure
  webhooks enable <id>         enable it again after consecutive failures disabled it: it delivers what it
                               missed while the events are kept (the key needs the write scope)

Against a running gateway only (--url, --key); --json prints the raw JSON objects.
`,
  'webhooks list': `Usage: pbx-gateway webhooks list [--url <url> --key <key>] [--json]

Each webhook subscription this key may see: state (enabled, disabled), URL without credentials, tenants, types,
consecutive failures, lag in seconds (age of the oldest event waiting) and the last attempt.
`,
  'webhooks deliveries': `Usage: pbx-gateway webhooks deliveries <id> [--url <url> --key <key>] [--json]

The recent delivery attempts of one subscription (the last 100), newest first: time, event, attempt number,
outcome (delivered, failed, given_up), the receiver's answer code or the failure (timeout, network, redirect).
`,
  'webhooks enable': `Usage: pbx-gateway webhooks enable <id> [--url <url> --key <key>] [--json]

Enable a subscription again after consecutive failures disabled it. It delivers what it missed, from its cursor,
while the gateway keeps those events. The key needs the write scope.
`,
  help: `Usage: pbx-gateway help [<command>]

The list of commands, or one command's help (the same as pbx-gateway <command> --help).
`,
};

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
