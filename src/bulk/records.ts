/** Import bodies (CSV with a header row, or NDJSON) as wanted extensions; export rows as CSV or NDJSON. */
import type { Extension } from '../contract';
import { ValidationError } from '../errors';
import { csvLine, parseCsv } from './csv';
import type { Desired } from './plan';

export const EXPORT_COLUMNS = ['id', 'extension', 'name', 'description', 'username', 'domain', 'direct_uri', 'created_at', 'updated_at'] as const;
const IMPORT_COLUMNS = ['extension', 'name', 'description', 'password'] as const;
export const MAX_IMPORT_ROWS = 10_000;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);

export function parseImport(body: string, format: 'csv' | 'ndjson'): Desired[] {
  const rows: Desired[] = [];
  if (format === 'csv') {
    let table: string[][];
    try {
      table = parseCsv(body);
    } catch (err) {
      throw new ValidationError([{ pointer: '', detail: `the CSV does not parse: ${(err as Error).message}` }]);
    }
    const [header = [], ...data] = table;
    const index = header.map((h) => h.trim().toLowerCase());
    if (!index.includes('extension')) throw new ValidationError([{ pointer: '', detail: 'the CSV header must name an `extension` column' }]);
    data.forEach((cells, i) => {
      const get = (c: (typeof IMPORT_COLUMNS)[number]) => {
        const at = index.indexOf(c);
        return at >= 0 && cells[at] !== undefined && cells[at] !== '' ? cells[at] : undefined;
      };
      rows.push({ row: i + 1, extension: get('extension'), name: get('name'), description: get('description'), password: get('password') });
    });
  } else {
    body.split(/\r?\n/).forEach((line, i) => {
      if (line.trim() === '') return;
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new ValidationError([{ pointer: '', detail: `line ${i + 1} is not JSON` }]);
      }
      rows.push({ row: rows.length + 1, extension: str(obj.extension), name: str(obj.name), description: obj.description === null ? null : str(obj.description), password: str(obj.password) });
    });
  }
  if (rows.length > MAX_IMPORT_ROWS) throw new ValidationError([{ pointer: '', detail: `at most ${MAX_IMPORT_ROWS} rows per import` }]);
  return rows;
}

export function csvHeader(withPassword: boolean): string {
  return csvLine([...EXPORT_COLUMNS, ...(withPassword ? ['password'] : [])]);
}

export function exportRow(e: Extension, format: 'csv' | 'ndjson', withPassword: boolean): string {
  if (format === 'ndjson') {
    const { vendor: _v, password, ...rest } = e;
    return JSON.stringify(withPassword && password !== undefined ? { ...rest, password } : rest) + '\n';
  }
  return csvLine([...EXPORT_COLUMNS.map((c) => e[c]), ...(withPassword ? [e.password ?? ''] : [])]);
}
