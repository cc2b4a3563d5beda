// Label and field selectors in their query-string form (`app=web,tier in (a,b),!debug`,
// `metadata.name=x,spec.nodeName!=n1`), parsed as the API server parses them.
import { badRequest } from './errors.js';

type Req = { key: string; op: '=' | '!=' | 'in' | 'notin' | 'exists' | '!'; values: string[] };
export type Selector = (get: (key: string) => string | undefined) => boolean;

const KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Splits at commas outside parentheses. */
function terms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of s) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (c === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t !== '');
}

export function parseLabelSelector(s: string | undefined): Selector {
  if (!s) return () => true;
  const reqs: Req[] = terms(s).map((t) => {
    let m: RegExpExecArray | null;
    let r: Req;
    if ((m = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(t))) r = { key: m[1], op: m[2] as 'in', values: m[3].split(',').map((v) => v.trim()) };
    else if ((m = /^(\S+?)\s*(==|!=|=)\s*(\S*)$/.exec(t))) r = { key: m[1], op: m[2] === '!=' ? '!=' : '=', values: [m[3]] };
    else if ((m = /^!\s*(\S+)$/.exec(t))) r = { key: m[1], op: '!', values: [] };
    else if (KEY.test(t)) r = { key: t, op: 'exists', values: [] };
    else throw badRequest(`unable to parse requirement: found '${t}', expected: in, notin, =, ==, !=, gt, lt`);
    if (!KEY.test(r.key)) throw badRequest(`unable to parse requirement: invalid label key "${r.key}"`);
    for (const v of r.values) if (!VALUE.test(v) || v.length > 63) throw badRequest(`unable to parse requirement: invalid label value: "${v}"`);
    return r;
  });
  return (get) => reqs.every((r) => {
    const v = get(r.key);
    switch (r.op) {
      case '=': return v === r.values[0];
      case '!=': return v !== r.values[0];
      case 'in': return v !== undefined && r.values.includes(v);
      case 'notin': return v === undefined || !r.values.includes(v);
      case 'exists': return v !== undefined;
      case '!': return v === undefined;
    }
  });
}

/** Field selectors: only `=`, `==` and `!=` on the fields the resource supports. */
export function parseFieldSelector(s: string | undefined, supported: readonly string[]): Selector {
  if (!s) return () => true;
  const reqs = terms(s).map((t) => {
    const m = /^([^=!]+?)\s*(==|!=|=)\s*(.*)$/.exec(t);
    if (!m) throw badRequest(`invalid selector: '${s}'; can't understand '${t}'`);
    if (!supported.includes(m[1])) throw badRequest(`field label not supported: ${m[1]}`);
    return { key: m[1], neg: m[2] === '!=', value: m[3] };
  });
  return (get) => reqs.every((r) => ((get(r.key) ?? '') === r.value) !== r.neg);
}
