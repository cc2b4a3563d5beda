import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatSelector, matchesSelector, parseSelector } from '../../src/core/policy/selector.js';
import { assertInvalid } from './helpers.js';

describe('label selectors', () => {
  const l = { app: 'web', tier: 'front' };

  it('empty and null selectors match everything', () => {
    assert.ok(matchesSelector(parseSelector({}, 's'), {}));
    assert.ok(matchesSelector(parseSelector(null, 's'), l));
    assert.ok(matchesSelector(parseSelector(undefined, 's'), l));
  });

  it('matchLabels needs every pair', () => {
    assert.ok(matchesSelector(parseSelector({ matchLabels: { app: 'web' } }, 's'), l));
    assert.ok(!matchesSelector(parseSelector({ matchLabels: { app: 'web', tier: 'back' } }, 's'), l));
    assert.ok(!matchesSelector(parseSelector({ matchLabels: { other: 'x' } }, 's'), l));
  });

  it('In, NotIn, Exists, DoesNotExist', () => {
    const m = (key: string, operator: string, values?: string[]) => matchesSelector(parseSelector({ matchExpressions: [{ key, operator, values }] }, 's'), l);
    assert.ok(m('app', 'In', ['db', 'web']));
    assert.ok(!m('app', 'In', ['db']));
    assert.ok(!m('missing', 'In', ['x']));
    assert.ok(m('app', 'NotIn', ['db']));
    assert.ok(!m('app', 'NotIn', ['web']));
    assert.ok(m('missing', 'NotIn', ['x']), 'NotIn matches when the key is absent');
    assert.ok(m('app', 'Exists'));
    assert.ok(!m('missing', 'Exists'));
    assert.ok(m('missing', 'DoesNotExist'));
    assert.ok(!m('app', 'DoesNotExist'));
  });

  it('matchLabels and matchExpressions are ANDed', () => {
    const s = parseSelector({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, 's');
    assert.ok(!matchesSelector(s, l));
    assert.ok(matchesSelector(s, { app: 'web', tier: 'back' }));
  });

  it('rejects malformed selectors with the field path', () => {
    assertInvalid(() => parseSelector({ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['x'] }] }, 'spec.podSelector'), 'spec.podSelector.matchExpressions[0].operator');
    assertInvalid(() => parseSelector({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }, 'p'), 'p.matchExpressions[0].values: must not be empty');
    assertInvalid(() => parseSelector({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }, 'p'), 'p.matchExpressions[0].values: must be empty');
    assertInvalid(() => parseSelector({ matchLabels: { a: 1 } }, 'p'), 'p.matchLabels.a');
    assertInvalid(() => parseSelector({ matchLabel: { a: 'b' } }, 'p'), 'p.matchLabel: unknown field');
    assertInvalid(() => parseSelector([], 'p'), 'p: must be an object');
  });

  it('is canonical: expression and value order do not matter', () => {
    const a = parseSelector({ matchExpressions: [{ key: 'b', operator: 'In', values: ['2', '1'] }, { key: 'a', operator: 'Exists' }] }, 's');
    const b = parseSelector({ matchExpressions: [{ key: 'a', operator: 'Exists' }, { key: 'b', operator: 'In', values: ['1', '2', '1'] }] }, 's');
    assert.deepEqual(a, b);
    assert.equal(formatSelector(a), 'a,b in (1,2)');
  });

  it('property: matchLabels {k: v} ≡ matchExpressions [k In [v]]; NotIn is the negation of In', () => {
    const key = fc.constantFrom('a', 'b', 'c');
    const val = fc.constantFrom('1', '2', '3');
    const labels = fc.dictionary(key, val);
    fc.assert(fc.property(labels, key, val, (lab, k, v) => {
      const byLabel = matchesSelector(parseSelector({ matchLabels: { [k]: v } }, 's'), lab);
      const byIn = matchesSelector(parseSelector({ matchExpressions: [{ key: k, operator: 'In', values: [v] }] }, 's'), lab);
      const byNotIn = matchesSelector(parseSelector({ matchExpressions: [{ key: k, operator: 'NotIn', values: [v] }] }, 's'), lab);
      assert.equal(byLabel, byIn);
      assert.equal(byNotIn, !byIn);
    }));
  });
});
