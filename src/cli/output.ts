// Output formatting shared by every `romana` command: -o table|json|yaml.
import YAML from 'yaml';

export type OutputFormat = 'table' | 'json' | 'yaml';

export function parseFormat(s: string | undefined, allowed: OutputFormat[] = ['table', 'json', 'yaml']): OutputFormat {
  const f = (s ?? 'table') as OutputFormat;
  if (!allowed.includes(f)) throw new Error(`-o: '${s}' is not one of ${allowed.join(', ')}`);
  return f;
}

/** Renders rows as an aligned text table with upper-case headers. */
export function table(headers: string[], rows: (string | number | undefined)[][]): string {
  const cells = [headers.map((h) => h.toUpperCase()), ...rows.map((r) => r.map((c) => (c === undefined ? '' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n') + '\n';
}

/** Prints `data` as JSON or YAML, or calls `asTable` for the table format. */
export function print(format: OutputFormat, data: unknown, asTable: () => string): void {
  if (format === 'json') process.stdout.write(JSON.stringify(data, null, 2) + '\n');
  else if (format === 'yaml') process.stdout.write(YAML.stringify(data));
  else process.stdout.write(asTable());
}
