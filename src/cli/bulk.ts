// `policy apply -f` and `policy delete -f` over many objects, kubectl's way: every file (-f repeats,
// -f DIR takes the directory's files) is read and checked before anything is sent, so a mistake or an
// id given twice changes nothing; then each object is sent (a few at a time), romanad's 429 and 503
// answers are waited out (Retry-After), each object's outcome is reported by name, and long runs show
// their progress on stderr.
import type { PolicyRecord } from '../control/policies.js';
import { RomanaError, usage } from '../core/errors.js';
import { normalizePolicy, parsePolicies, withPath } from '../core/policy/normalize.js';
import type { ApiClient } from './client.js';
import { expandFiles, readText } from './files.js';
import type { Printer } from './output.js';

export interface Item { id: string; where: string; object: unknown }

/** Every policy of every file, validated, with its id; an id given twice is a usage error naming both places. */
export function loadPolicies(paths: string[]): Item[] {
  const items: Item[] = [];
  const seen = new Map<string, string>();
  for (const file of expandFiles(paths)) {
    const text = readText(file);
    let objects: unknown[];
    try {
      objects = parsePolicies(text);
    } catch (e) {
      throw e instanceof RomanaError ? usage(`${file}: ${e.message}`) : e;
    }
    objects.forEach((o, i) => {
      const where = `${file}: policies[${i}]`;
      let id: string;
      try {
        id = withPath(`policies[${i}]`, () => normalizePolicy(o)).id;
      } catch (e) {
        throw e instanceof RomanaError ? usage(`${file}: ${e.message}`) : e;
      }
      const first = seen.get(id);
      if (first) throw usage(`policy '${id}' is given twice (${first} and ${where}); nothing was applied`);
      seen.set(id, where);
      items.push({ id, where, object: o });
    });
  }
  if (items.length === 0) throw usage(`${paths.join(', ')}: no policy in the file(s)`);
  return items;
}

export interface Outcome { id: string; result?: string; error?: { error: string; message: string } }

export interface BulkOptions {
  /** Requests in flight at once. */
  parallel?: number;
  /** Where progress goes (stderr). */
  progress?: NodeJS.WriteStream;
}

/** Sends `op` for every item, a few at a time; never stops at a refusal (each outcome says what happened). */
export async function runBulk(items: Item[], verb: string, op: (item: Item, onRetry: () => void) => Promise<string>, o: BulkOptions = {}): Promise<Outcome[]> {
  const out: Outcome[] = new Array(items.length);
  let next = 0;
  let done = 0;
  let retries = 0;
  const started = Date.now();
  const p = o.progress ?? process.stderr;
  let shown = 0;
  const show = (final = false) => {
    const now = Date.now();
    if (now - started < 1000 && !final) return; // short runs say nothing
    if (!final && now - shown < (p.isTTY ? 200 : 5000)) return;
    shown = now;
    const text = `${verb} ${done}/${items.length}${retries ? ` (waited out ${retries} busy answer(s) from romanad)` : ''}`;
    p.write(p.isTTY ? `\r${text}${final ? '\n' : ''}` : `${text}\n`);
  };
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      const item = items[i];
      try {
        out[i] = { id: item.id, result: await op(item, () => void retries++) };
      } catch (e) {
        if (!(e instanceof RomanaError)) throw e;
        out[i] = { id: item.id, error: { error: e.kind, message: e.message } };
      }
      done++;
      show();
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.parallel ?? 4, items.length) }, worker));
  if (Date.now() - started >= 1000) show(true);
  return out;
}

export const applyPolicy = (client: ApiClient) => async (item: Item, onRetry: () => void): Promise<string> =>
  (await client.request<PolicyRecord & { result: string }>('POST', '/policies', item.object, { idempotent: true, onRetry })).result;

export const deletePolicy = (client: ApiClient, ignoreNotFound: boolean) => async (item: Item, onRetry: () => void): Promise<string> => {
  try {
    await client.request('DELETE', `/policies/${encodeURIComponent(item.id)}`, undefined, { onRetry });
    return 'deleted';
  } catch (e) {
    if (ignoreNotFound && e instanceof RomanaError && e.kind === 'not_found') return 'not found';
    throw e;
  }
};

/** Each object's outcome on stdout, each refusal on stderr; any refusal makes the exit status 1. */
export function report(out: Printer, outcomes: Outcome[], verb: string): void {
  const failed = outcomes.filter((x) => x.error);
  out.done({ policies: outcomes }, outcomes.filter((x) => !x.error).map((x) => `policy/${x.id} ${x.result}`).join('\n'),
    outcomes.filter((x) => !x.error).map((x) => `policy/${x.id}`));
  for (const f of failed) process.stderr.write(`romana: policy/${f.id}: ${f.error!.error}: ${f.error!.message}\n`);
  if (failed.length) {
    process.stderr.write(`romana: ${failed.length} of ${outcomes.length} policies not ${verb}; the others were\n`);
    process.exitCode = 1;
  }
}
