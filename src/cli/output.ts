// Output shared by every `romana` command, kubectl's way: -o table (default), wide (more columns),
// name (`kind/name` lines, for scripts), json or yaml (the API's answer as it is); --no-headers.
import YAML from 'yaml';
import { usage } from '../core/errors.js';

export const FORMATS = ['table', 'wide', 'name', 'json', 'yaml'] as const;
export type OutputFormat = (typeof FORMATS)[number];

export function parseFormat(s: string | undefined, allowed: readonly OutputFormat[] = FORMATS): OutputFormat {
  const f = (s ?? 'table') as OutputFormat;
  if (!allowed.includes(f)) throw usage(`-o: '${s}' is not one of ${allowed.join(', ')} (for this command)`);
  return f;
}

type Cell = string | number | undefined;

/** Renders rows as an aligned text table with upper-case headers (none with `noHeaders`). */
export function table(headers: string[], rows: Cell[][], noHeaders = false): string {
  const cells = [...(noHeaders ? [] : [headers.map((h) => h.toUpperCase())]), ...rows.map((r) => r.map((c) => (c === undefined ? '' : String(c))))];
  if (cells.length === 0) return '';
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n') + '\n';
}

/** How a kind of object shows as rows: its columns, the extra ones of -o wide, and its name. */
export interface View<T> {
  kind: string;
  name: (t: T) => string;
  columns: [string, (t: T) => Cell][];
  wide?: [string, (t: T) => Cell][];
}

export class Printer {
  constructor(readonly format: OutputFormat, readonly noHeaders = false) {}

  /** Prints `data` (the API's answer) as JSON or YAML. */
  raw(data: unknown): void {
    if (this.format === 'json') process.stdout.write(JSON.stringify(data, null, 2) + '\n');
    else process.stdout.write(YAML.stringify(data));
  }

  /** Objects as rows (table, wide), `kind/name` lines (name), or `data` as it came (json, yaml). */
  list<T>(data: unknown, items: T[], v: View<T>): void {
    if (this.format === 'json' || this.format === 'yaml') return this.raw(data);
    if (this.format === 'name') return void process.stdout.write(items.map((t) => `${v.kind}/${v.name(t)}\n`).join(''));
    const cols = this.format === 'wide' ? [...v.columns, ...(v.wide ?? [])] : v.columns;
    process.stdout.write(table(cols.map(([h]) => h), items.map((t) => cols.map(([, f]) => f(t))), this.noHeaders));
  }

  /** The result of an action: a sentence (table, wide), `kind/name` lines (name), the answer (json, yaml). */
  done(data: unknown, text: string, names: string[]): void {
    if (this.format === 'json' || this.format === 'yaml') return this.raw(data);
    process.stdout.write(this.format === 'name' ? names.map((n) => `${n}\n`).join('') : text === '' || text.endsWith('\n') ? text : `${text}\n`);
  }

  /** A document (a topology, a policy) or a report: `text` for table and wide, `kind/name` for name. */
  document(data: unknown, text: () => string, names: string[]): void {
    if (this.format === 'json' || this.format === 'yaml') return this.raw(data);
    process.stdout.write(this.format === 'name' ? names.map((n) => `${n}\n`).join('') : text());
  }
}

/** key=value,key2=value2 */
export const labelText = (l: Record<string, string> | undefined) => Object.entries(l ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
