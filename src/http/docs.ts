/** A docs page rendered on the server from the OpenAPI document: no script, no CDN, works offline. */
type Json = Record<string, unknown>;

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const refName = (schema: unknown) => {
  const r = (schema as { $ref?: string } | undefined)?.$ref;
  return r ? r.split('/').pop() : undefined;
};

function schemaSummary(schema: unknown): string {
  const s = schema as Json | undefined;
  if (!s) return '';
  const name = refName(s);
  if (name) return `<a href="#schema-${esc(name)}">${esc(name)}</a>`;
  const items = (s.properties as Json | undefined)?.items as Json | undefined;
  if (items) return `{ items: [${schemaSummary(items.items)}] }`;
  return esc(s.type ?? 'object');
}

export function renderDocs(doc: Json): string {
  const paths = doc.paths as Record<string, Record<string, Json>>;
  const byTag = new Map<string, string[]>();
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const params = ((op.parameters as Json[] | undefined) ?? []).map((p) => `<code>${esc(p.name)}</code> <small>(${esc(p.in)}${p.required ? ', required' : ''})</small>`).join(', ');
      const body = (op.requestBody as Json | undefined)?.content as Record<string, Json> | undefined;
      const responses = Object.entries(op.responses as Record<string, Json>)
        .map(([status, r]) => {
          const content = r.content as Record<string, Json> | undefined;
          const schema = content && Object.values(content)[0]?.schema;
          const types = content && !content['application/json'] && !content['application/problem+json'] ? ` <small>(${Object.keys(content).map(esc).join(', ')})</small>` : '';
          const headers = Object.keys((r.headers as Json | undefined) ?? {}).filter((h) => h !== 'X-Request-Id' && !h.startsWith('RateLimit-'));
          return `<li><b>${esc(status)}</b> ${esc(r.description)} ${schema ? schemaSummary(schema) : ''}${types}${headers.length ? ` <small>headers: ${headers.map(esc).join(', ')}</small>` : ''}</li>`;
        })
        .join('');
      const html = `<section class="op"><h3><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code></h3>
<p>${esc(op.summary)}</p>${params ? `<p>Parameters: ${params}</p>` : ''}${body ? `<p>Body: ${Object.entries(body).map(([type, c]) => (type === 'application/json' ? schemaSummary(c.schema) : `<code>${esc(type)}</code>`)).join(', ')}</p>` : ''}<ul>${responses}</ul></section>`;
      const tag = ((op.tags as string[] | undefined) ?? ['other'])[0];
      byTag.set(tag, [...(byTag.get(tag) ?? []), html]);
    }
  }
  const schemas = Object.entries((doc.components as Json).schemas as Record<string, Json>)
    .map(([name, s]) => `<section id="schema-${esc(name)}"><h3>${esc(name)}</h3><p>${esc(s.description)}</p><pre>${esc(JSON.stringify(s, null, 2))}</pre></section>`)
    .join('');
  const info = doc.info as Json;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(info.title)} API</title><style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
code,pre{font:13px ui-monospace,monospace}pre{background:#f4f4f4;padding:.75rem;overflow:auto}
.op{border-top:1px solid #ddd;padding:.25rem 0}.m{display:inline-block;min-width:4.5rem;color:#fff;padding:0 .4rem;border-radius:3px;font-size:13px}
.get{background:#1f5fa8}.post{background:#1d7a3a}.patch{background:#8a5a00}.delete{background:#a32626}a{color:#1f5fa8}
</style></head><body><h1>${esc(info.title)} <small>${esc(info.version)}</small></h1><p>${esc(info.description)}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Send <code>Authorization: Bearer &lt;API key&gt;</code> on every <code>/v1</code> route; errors are <code>application/problem+json</code>.</p>
${[...byTag].map(([tag, ops]) => `<h2>${esc(tag)}</h2>${ops.join('')}`).join('')}<h2>Schemas</h2>${schemas}</body></html>`;
}
