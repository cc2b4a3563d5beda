// Hostile policies: Romana policies and Kubernetes NetworkPolicies mutated from valid shapes, arbitrary
// values, YAML text (anchors, aliases, bombs, deep nesting, tags), cluster files and probes. Each is
// accepted or refused with `invalid` naming the field; through POST /policies never a 5xx, and a
// refused body leaves the store as it was.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import YAML from 'yaml';
import { RomanaError } from '../../src/core/errors.js';
import { parseCluster } from '../../src/core/policy/cluster.js';
import { explain, parseProbe, simulate } from '../../src/core/policy/evaluate.js';
import { loadPolicies, normalizeAll, normalizePolicy, parsePolicies } from '../../src/core/policy/normalize.js';
import { RUNS, assertPrototypeClean, deepJson, hostile, key, mutated, okOrInvalid } from './helpers.js';
import { NETWORK_POLICY, ROMANA_POLICY, type Seeded, seededApp } from './seed.js';

const CLUSTER_TEXT = readFileSync(new URL('../../examples/cluster.yaml', import.meta.url), 'utf8');
const CLUSTER = YAML.parse(CLUSTER_TEXT) as Record<string, unknown>;

const POLICIES: unknown[] = [
  ROMANA_POLICY,
  NETWORK_POLICY,
  { id: 'out', direction: 'egress', applied_to: [{ tenant_id: 'a' }], egress: [{ peers: [{ peer: 'any' }, { peer: 'host' }], rules: [{ protocol: 'any' }, { protocol: 'udp', ports: [53] }] }] },
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'v6' }, spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: 'fd00::/64', except: ['fd00::/80'] } }] }], egress: [{}], policyTypes: ['Egress'] } },
  { kind: 'List', items: [ROMANA_POLICY] },
];

/** YAML text: rendered policies cut and spliced with the syntax that trips parsers. */
const FRAGMENTS = [
  '[', ']', '{', '}', ',', ': ', '- ', '? ', '&a ', '*a', '&b ', '*b', '<<: *a', '!!str ', '!!binary ', '!!set ', '!!omap ',
  '!custom ', '%YAML 1.1\n', '---\n', '...\n', '"', "'", '#', '|', '>-', '\t', '\n', '  ', '\\', '\u0000', '\ufeff', 'é', '🙂',
  '__proto__', 'constructor', '.inf', '.nan', '0x1F', '1e999', '~', 'null', 'true', 'id', 'x',
];
const yamlText = fc.oneof(
  fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 40 }).map((a) => a.join('')),
  fc.tuple(mutated(POLICIES), fc.array(fc.tuple(fc.nat(), fc.constantFrom(...FRAGMENTS)), { maxLength: 4 })).map(([p, edits]) => {
    let s = YAML.stringify(p);
    for (const [at, f] of edits) s = s.slice(0, at % (s.length + 1)) + f + s.slice(at % (s.length + 1));
    return s;
  }),
  fc.string({ unit: 'binary', maxLength: 60 }),
);

/** Aliases of aliases: 9^depth strings if expanded. */
function bomb(levels: number): string {
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i <= levels; i++) lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]`);
  return lines.join('\n') + '\n';
}

describe('policy core on hostile input', () => {
  after(assertPrototypeClean);

  it('property: any JSON value, as one policy or a list of them', () => {
    fc.assert(fc.property(hostile, (v) => {
      okOrInvalid(() => normalizeAll([v], 'policies'));
      if (Array.isArray(v)) okOrInvalid(() => normalizeAll(v, 'policies'));
    }), { numRuns: RUNS });
  });

  it('property: valid Romana policies and NetworkPolicies changed in 1-3 places', () => {
    fc.assert(fc.property(mutated(POLICIES), (v) => void okOrInvalid(() => normalizeAll([v], 'policies'))), { numRuns: RUNS * 3 });
  });

  it('property: polluting keys anywhere are refused or kept as plain data, never merged into a prototype', () => {
    fc.assert(fc.property(mutated(POLICIES, fc.constantFrom('x', 1, {}, { polluted: true })), (v) => {
      const text = JSON.stringify(v);
      const r = okOrInvalid(() => loadPolicies(text));
      if (!(r instanceof RomanaError)) for (const p of r) assert.equal(Object.getPrototypeOf(p.object), Object.prototype);
      assertPrototypeClean();
    }), { numRuns: RUNS });
  });

  it('property: YAML text, spliced with anchors, aliases, tags and brackets', () => {
    fc.assert(fc.property(yamlText, (t) => void okOrInvalid(() => loadPolicies(t))), { numRuns: RUNS * 2 });
  });

  it('regression: 2 KB of `[` or `- ` is an invalid naming the line (it used to abort the process)', () => {
    // The YAML composer recursed per level; near the stack's end V8 failed to compile a regular
    // expression and aborted with "RegExpCompiler Allocation failed" instead of throwing.
    for (const t of ['['.repeat(1000) + ']'.repeat(1000), '- '.repeat(5000) + 'x', deepJson(5000), `a: ${'{b: '.repeat(3000)}1${'}'.repeat(3000)}`]) {
      const e = okOrInvalid(() => parsePolicies(t));
      assert.match(String((e as Error).message), /^policies: nested more than 64 levels deep \(line 1\)$/);
    }
    const lines = Array.from({ length: 2000 }, (_, i) => `${' '.repeat(i)}a${i}:`).join('\n');
    assert.match(String((okOrInvalid(() => parsePolicies(lines)) as Error).message), /nested more than 64 levels deep \(line 6\d\)/);
  });

  it('regression: alias bombs and self-referencing aliases are invalid, not a hang or a 500', () => {
    assert.match(String((okOrInvalid(() => parsePolicies(bomb(8))) as Error).message), /^policies: Excessive alias count/);
    // A cycle through an alias: the value is fine for YAML, but could never be stored as JSON.
    const cyclic = 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: &m\n  name: a\n  annotations: {x: *m}\nspec: {}\n';
    assert.match(String((okOrInvalid(() => loadPolicies(cyclic)) as Error).message), /^policies\[0\]\.metadata\.annotations\.x\..*nested more than 64/);
  });

  it('regression: metadata and status nested 10,000 deep are an invalid (they are cloned and stored)', () => {
    const np = (extra: string) => JSON.parse(`{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"a"${extra}},"spec":{}}`);
    assert.match(String((okOrInvalid(() => normalizePolicy(np(`,"annotations":${deepJson(10000)}`))) as Error).message), /^metadata\.annotations\.a\..*nested more than 64/);
    okOrInvalid(() => normalizePolicy(np(`,"labels":${deepJson(40)}`)));
  });

  it('broken YAML names its line', () => {
    assert.match(String((okOrInvalid(() => parsePolicies('id: a\ndirection: [ingress\n')) as Error).message), /^policies: not valid YAML or JSON \(line \d\)/);
  });
});

describe('cluster files, probes and simulate', () => {
  const cluster = parseCluster(CLUSTER_TEXT);
  const endpoints = [...cluster.pods.map((p) => p.key), ...cluster.externals.map((e) => e.key), 'nope/x', 'ext/', ''];

  it('property: cluster files changed in 1-3 places parse or are invalid, and simulate never throws on what parses', () => {
    fc.assert(fc.property(mutated([CLUSTER]), (v) => {
      const c = okOrInvalid(() => parseCluster(v));
      if (!(c instanceof RomanaError)) okOrInvalid(() => simulate(c));
    }), { numRuns: RUNS });
  });

  it('regression: a block segment or port protocol that is an object is an invalid, not a TypeError', () => {
    // JSON can carry {"toString": []}: String() of it throws "Cannot convert object to primitive value".
    const odd = JSON.parse('{"toString":[]}');
    const blocks = [{ cidr: '10.9.0.0/28', tenant: 'acme', segment: odd }];
    assert.match(String((okOrInvalid(() => parseCluster({ ...CLUSTER, blocks })) as Error).message), /^blocks\[0\]\.segment: must be a string, got an object$/);
    const pods = [{ namespace: 'acme', name: 'p', ip: '10.9.9.9', ports: [{ port: 80, protocol: odd }] }];
    assert.match(String((okOrInvalid(() => parseCluster({ ...CLUSTER, pods })) as Error).message), /^pods\[0\]\.ports\[0\]\.protocol: must be TCP, UDP or SCTP/);
    assert.equal(parseCluster({ ...CLUSTER, blocks: [{ cidr: '10.9.0.0/28', tenant: 'acme', segment: 7 }] }).blocks[0].segment, '7');
  });

  it('property: cluster YAML text with odd fragments spliced in', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(), fc.constantFrom(...FRAGMENTS)), { minLength: 1, maxLength: 3 }), (edits) => {
      let s = CLUSTER_TEXT;
      for (const [at, f] of edits) s = s.slice(0, at % (s.length + 1)) + f + s.slice(at % (s.length + 1));
      okOrInvalid(() => parseCluster(s));
    }), { numRuns: RUNS });
  });

  it('property: probe strings parse or are invalid; parsed probes simulate and explain or name the endpoint', () => {
    const part = fc.oneof(fc.constantFrom(...endpoints), fc.string({ maxLength: 10 }));
    const portProto = fc.oneof(fc.string({ maxLength: 10 }), fc.tuple(fc.oneof(fc.nat(70000), fc.constant(1e21)), fc.constantFrom('TCP', 'udp', 'SCTP', 'ICMP', 'icmp', 'GRE', '')).map(([p, x]) => (x ? `${p}/${x}` : `${p}`)));
    const probe = fc.oneof(fc.tuple(part, part, portProto).map((a) => a.join(',')), fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 }));
    fc.assert(fc.property(probe, (s) => {
      const p = okOrInvalid(() => parseProbe(s));
      if (p instanceof RomanaError) return;
      okOrInvalid(() => simulate(cluster, [p]));
      okOrInvalid(() => explain(cluster, p));
    }), { numRuns: RUNS * 2 });
  });
});

describe('POST /policies with hostile bodies', () => {
  let s: Seeded;
  before(async () => {
    s = await seededApp({ rateLimit: false });
  });
  after(async () => s.close());

  async function post(payload: string | Buffer, contentType: string) {
    const before = await s.snapshot();
    const r = await s.app.inject({ method: 'POST', url: '/policies', headers: { 'content-type': contentType }, payload });
    assert.ok(r.statusCode < 500, `${r.statusCode} ${r.body}`);
    if (r.statusCode >= 300) {
      const b = r.json();
      assert.ok(['invalid', 'too_large'].includes(b.error), r.body);
      assert.equal(typeof b.message, 'string');
      assert.equal(await s.snapshot(), before, `store changed by a rejected ${String(payload).slice(0, 300)}`);
    }
    return r;
  }

  it('property: JSON bodies (hostile and mutated)', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(hostile, mutated(POLICIES)), key, async (v, _k) => {
      await post(JSON.stringify(v) ?? 'null', 'application/json');
    }), { numRuns: RUNS });
  });

  it('property: YAML bodies', async () => {
    await fc.assert(fc.asyncProperty(yamlText, fc.constantFrom('application/yaml', 'text/yaml', 'text/plain', 'application/x-yaml'), async (t, ct) => {
      await post(t, ct);
    }), { numRuns: RUNS });
  });

  it('regression: deep YAML and JSON bodies are 400s and romanad keeps serving', async () => {
    // Twice each: the abort needed a regular expression compiled at the bottom of the stack.
    for (let i = 0; i < 2; i++) {
      for (const [t, ct] of [['['.repeat(2000) + ']'.repeat(2000), 'application/yaml'], ['- '.repeat(2000) + 'x', 'text/yaml'], [bomb(8), 'application/yaml'],
        [`{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"a"},"spec":{},"status":${deepJson(50000, '[', ']', '')}}`, 'application/json']]) {
        assert.equal((await post(t, ct)).statusCode, 400);
      }
    }
    assert.equal((await s.app.inject({ method: 'GET', url: '/policies/web-in' })).statusCode, 200);
  });
});
