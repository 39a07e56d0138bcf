/** A few DOM helpers: elements from data (text is always text, never HTML), tables, problem messages. */
import { ApiError, type Problem } from './api.js';

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | boolean | ((e: Event) => void) | undefined>;

export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/**
 * A table in a region that scrolls sideways on a narrow screen (the page itself never does); the region takes the
 * focus so a keyboard can scroll it. Every column needs a header a screen reader can say (visually hidden if need be).
 */
export function table(columns: (string | Node)[], rows: Child[][], caption: string): HTMLElement {
  return h(
    'div',
    { class: 'table-wrap', role: 'region', 'aria-label': `${caption} (table)`, tabindex: '0' },
    h(
      'table',
      {},
      h('caption', { class: 'visually-hidden' }, caption),
      h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c))))),
    ),
  );
}

export function problemOf(err: unknown): Problem {
  if (err instanceof ApiError) return err.problem;
  return { type: 'about:blank', title: 'The console failed', status: 0, detail: err instanceof Error ? err.message : String(err) };
}

/** A problem as its title and detail, in an alert region. */
export function problemBox(p: Problem): HTMLElement {
  return h('div', { class: 'problem', role: 'alert' }, h('strong', {}, p.title), ' ', p.detail);
}

/**
 * Show a problem next to the form fields its pointers name (`/name` -> the input named name), and above the
 * form for what points nowhere.
 */
export function showProblem(form: HTMLFormElement, err: unknown): void {
  const p = problemOf(err);
  form.querySelectorAll('.field-error').forEach((e) => e.remove());
  form.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
  form.querySelector('.problem')?.remove();
  form.prepend(problemBox(p));
  for (const fault of p.errors ?? []) {
    const name = fault.pointer.replace(/^\//, '').split('/')[0];
    const input = name ? form.querySelector<HTMLInputElement>(`[name="${CSS.escape(name)}"]`) : null;
    if (!input) continue;
    const id = `${input.id}-error`;
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', id);
    input.after(h('span', { class: 'field-error', id }, fault.detail));
  }
}

export function field(label: string, name: string, attrs: Attrs = {}): HTMLElement {
  const id = `f-${name}-${Math.random().toString(36).slice(2, 7)}`;
  return h('div', { class: 'field' }, h('label', { for: id }, label), h('input', { id, name, ...attrs }));
}
