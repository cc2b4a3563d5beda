// Kubernetes label selectors: validation into canonical form, and matching.
import { at, arr, fail, labels, obj, onlyKeys, str } from './fields.js';
import type { LabelExpression, LabelSelector, Operator } from './model.js';

const OPERATORS: readonly Operator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

export const EMPTY_SELECTOR: LabelSelector = Object.freeze({ matchLabels: {}, matchExpressions: [] }) as LabelSelector;

export const isEmptySelector = (s: LabelSelector): boolean =>
  Object.keys(s.matchLabels).length === 0 && s.matchExpressions.length === 0;

/** Validates a `{matchLabels?, matchExpressions?}` object. null/absent is the empty selector. */
export function parseSelector(v: unknown, path: string): LabelSelector {
  if (v === undefined || v === null) return { matchLabels: {}, matchExpressions: [] };
  const o = obj(v, path);
  onlyKeys(o, path, ['matchLabels', 'matchExpressions']);
  const matchLabels = labels(o.matchLabels, at(path, 'matchLabels'));
  const exprs: LabelExpression[] = [];
  const ePath = at(path, 'matchExpressions');
  (o.matchExpressions === undefined || o.matchExpressions === null ? [] : arr(o.matchExpressions, ePath)).forEach((e, i) => {
    const p = at(ePath, i);
    const eo = obj(e, p);
    onlyKeys(eo, p, ['key', 'operator', 'values']);
    const key = str(eo.key, at(p, 'key'));
    const operator = eo.operator as Operator;
    if (!OPERATORS.includes(operator)) fail(at(p, 'operator'), `must be one of ${OPERATORS.join(', ')}, got ${JSON.stringify(eo.operator)}`);
    const raw = eo.values === undefined || eo.values === null ? [] : arr(eo.values, at(p, 'values'));
    const values = raw.map((x, j) => {
      if (typeof x !== 'string') fail(at(at(p, 'values'), j), 'must be a string');
      return x;
    });
    if ((operator === 'In' || operator === 'NotIn') && values.length === 0) {
      fail(at(p, 'values'), `must not be empty when operator is ${operator}`);
    }
    if ((operator === 'Exists' || operator === 'DoesNotExist') && values.length > 0) {
      fail(at(p, 'values'), `must be empty when operator is ${operator}`);
    }
    exprs.push({ key, operator, values: [...new Set(values)].sort() });
  });
  exprs.sort((a, b) => (a.key + '\0' + a.operator + '\0' + a.values.join('\0') < b.key + '\0' + b.operator + '\0' + b.values.join('\0') ? -1 : 1));
  return { matchLabels, matchExpressions: exprs };
}

export function matchesSelector(sel: LabelSelector, l: Record<string, string>): boolean {
  for (const k in sel.matchLabels) if (l[k] !== sel.matchLabels[k]) return false;
  for (const e of sel.matchExpressions) {
    const has = Object.prototype.hasOwnProperty.call(l, e.key);
    switch (e.operator) {
      case 'In': if (!has || !e.values.includes(l[e.key])) return false; break;
      case 'NotIn': if (has && e.values.includes(l[e.key])) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
    }
  }
  return true;
}

/** "app=web,tier in (a,b),!debug" — kubectl's notation, for explanations. */
export function formatSelector(sel: LabelSelector): string {
  const parts = Object.entries(sel.matchLabels).map(([k, v]) => `${k}=${v}`);
  for (const e of sel.matchExpressions) {
    if (e.operator === 'In') parts.push(`${e.key} in (${e.values.join(',')})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${e.values.join(',')})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else parts.push(`!${e.key}`);
  }
  return parts.length ? parts.join(',') : '{}';
}
