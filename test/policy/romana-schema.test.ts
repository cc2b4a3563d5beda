// The RomanaPolicy CRD's OpenAPI schema against the Romana policy parser (src/core/policy/romana.ts):
// - the same fields at every level: the parser's own field lists (read from its "unknown field" errors)
//   equal the schema's properties;
// - nothing the parser accepts is refused by the CRD's schema, and everything the schema refuses the
//   parser refuses too, over generated policies built from valid and wrong values of every field.
// The schema checks shape; the parser stays the judge of meaning (one of tenant/cidr/peer, port ranges
// in order, CIDRs without host bits), so the schema may accept what the parser then refuses, with its
// error reaching the object's status. Schemas are checked by the stand-in API server's structural
// validator (src/testing/kube-apiserver/schema.ts), which the CRD tests of the stand-in exercise.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ROMANA_POLICY_ID_FIELDS, ROMANA_POLICY_SPEC_SCHEMA } from '../../src/core/policy/romana-schema.js';
import { fromRomanaPolicy } from '../../src/core/policy/romana.js';
import { romanaPolicyCrd } from '../../src/listener/crd.js';
import { type Schema, checkSchema, structuralProblems } from '../../src/testing/kube-apiserver/schema.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const RUNS = Number(process.env.FUZZ_RUNS ?? 400);

const crd = romanaPolicyCrd() as Obj;
const CR_SCHEMA = crd.spec.versions[0].schema.openAPIV3Schema as Schema;
const SPEC = CR_SCHEMA.properties!.spec;

/** What the parser says of a policy: undefined if it accepts it, else its error message. */
function parserSays(spec: Obj): string | undefined {
  try {
    fromRomanaPolicy({ id: 'p', ...spec });
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** What the CRD's schema says of a spec: undefined if it takes it, else its causes and unknown fields. */
function schemaSays(spec: unknown): string | undefined {
  const r = checkSchema(spec, SPEC, 'spec');
  const problems = [...r.causes.map((c) => `${c.field}: ${c.message}`), ...r.unknown.map((u) => `${u}: unknown field`)];
  return problems.length ? problems.join('; ') : undefined;
}

const VALID = { direction: 'ingress', applied_to: [{ tenant: 'shop' }], ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80] }] }] };

describe('RomanaPolicy CRD schema = the Romana policy schema', () => {
  it('the CRD carries the schema, structural as the API server requires', () => {
    assert.equal(SPEC, ROMANA_POLICY_SPEC_SCHEMA);
    assert.deepEqual(structuralProblems(CR_SCHEMA, 'openAPIV3Schema'), []);
    assert.equal(parserSays(VALID), undefined);
    assert.equal(schemaSays(VALID), undefined);
  });

  it('knows the same fields as the parser at every level', () => {
    // Each level, as a path into a valid policy, with the schema of that level.
    const entry = SPEC.properties!.ingress.items!;
    const levels: [string, (p: Obj) => Obj, Schema, readonly string[]][] = [
      ['the policy', (p) => p, SPEC, ROMANA_POLICY_ID_FIELDS],
      ['applied_to[]', (p) => p.applied_to[0], SPEC.properties!.applied_to.items!, []],
      ['ingress[]', (p) => p.ingress[0], entry, []],
      ['peers[]', (p) => p.ingress[0].peers[0], entry.properties!.peers.items!, []],
      ['rules[]', (p) => p.ingress[0].rules[0], entry.properties!.rules.items!, []],
    ];
    for (const [level, pick, schema, idFields] of levels) {
      const p = structuredClone(VALID) as Obj;
      pick(p).zz_not_a_field = 1;
      const said = parserSays(p) ?? '';
      const m = /unknown field \(expected one of: ([^)]*)\)/.exec(said);
      assert.ok(m, `${level}: the parser refuses an unknown field (${said})`);
      const parserFields = m[1].split(', ').filter((f) => !idFields.includes(f)).sort();
      assert.deepEqual(Object.keys(schema.properties!).sort(), parserFields, `${level}: the schema's fields are the parser's`);
      assert.match(schemaSays(p) ?? '', /zz_not_a_field: unknown field/, `${level}: the schema refuses the unknown field too`);
    }
    // The spec leaves out exactly the fields the custom resource takes from its metadata.
    assert.deepEqual([...ROMANA_POLICY_ID_FIELDS].filter((f) => f in SPEC.properties!), []);
  });

  // Every field's value from a pool of valid and wrong ones (types, ranges, cases, shapes).
  const tenantish = fc.constantFrom<unknown>('shop', 'b', 7, 0, '', 'Bad_Name', 1.5, true, [], {});
  const endpoint = fc.oneof(
    fc.record({
      tenant: tenantish, tenant_id: tenantish, tenant_name: tenantish,
      segment: tenantish, segment_id: tenantish, segment_name: tenantish,
      cidr: fc.constantFrom<unknown>('10.0.0.0/8', '10.0.0.1/8', '192.168.1.7/32', 'nope', 8, ['10.0.0.0/8']),
      peer: fc.constantFrom<unknown>('any', 'host', 'ANY', 'other', 1),
    }, { requiredKeys: [] }),
    fc.constantFrom<unknown>('any', 3, null, []),
  );
  const port = fc.constantFrom<unknown>(1, 80, 65535, 0, 65536, -1, '80', 1.5, 'http');
  const rule = fc.oneof(
    fc.record({
      protocol: fc.constantFrom<unknown>('tcp', 'TCP', 'Udp', 'sctp', 'icmp', 'ICMP', 'any', 'Any', 'igmp', '', 6),
      ports: fc.oneof(fc.array(port, { maxLength: 3 }), fc.constantFrom<unknown>(80, 'x')),
      port_ranges: fc.oneof(fc.array(fc.array(port, { maxLength: 3 }), { maxLength: 2 }), fc.constantFrom<unknown>([80, 90], 'x')),
      icmp_type: fc.constantFrom<unknown>(0, 8, 255, 256, -1, '8', 1.5),
      icmp_code: fc.constantFrom<unknown>(0, 3, 255, 256, '0'),
      is_stateful: fc.constantFrom<unknown>(true, false, 'yes', 1),
    }, { requiredKeys: [] }),
    fc.constantFrom<unknown>('tcp', 1, []),
  );
  const list = <T>(a: fc.Arbitrary<T>) => fc.oneof({ weight: 6, arbitrary: fc.array(a, { maxLength: 3 }) }, { weight: 1, arbitrary: fc.constantFrom<unknown>('x', {}, 5) });
  const entry = fc.oneof(
    { weight: 8, arbitrary: fc.record({ peers: list(endpoint), rules: list(rule) }, { requiredKeys: [] }) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>('x', []) },
  );
  const policy = fc.record({
    description: fc.constantFrom<unknown>('web from anywhere', '', 5),
    direction: fc.constantFrom<unknown>('ingress', 'egress', 'Ingress', 'both', 1),
    applied_to: list(endpoint),
    ingress: list(entry),
    egress: list(entry),
  }, { requiredKeys: [] });
  // Mostly near-valid policies, so that acceptance is common enough to say something.
  const likely = fc.record({
    direction: fc.constantFrom('ingress', 'egress'),
    applied_to: fc.array(fc.oneof(
      fc.record({ tenant: fc.constantFrom<unknown>('shop', 7) }),
      fc.record({ tenant_id: fc.constantFrom<unknown>('shop', 7), segment_id: fc.constantFrom<unknown>('web', 3, 1.5) }),
      fc.record({ cidr: fc.constantFrom('10.0.0.0/8', '10.0.0.1/8') }),
      fc.record({ peer: fc.constantFrom('any', 'host') }),
    ), { minLength: 1, maxLength: 2 }),
    ingress: fc.array(fc.record({
      peers: fc.array(fc.record({ peer: fc.constantFrom('any', 'host') }), { minLength: 1, maxLength: 2 }),
      rules: fc.array(fc.oneof(rule, fc.record({ protocol: fc.constantFrom('tcp', 'UDP'), ports: fc.array(fc.constantFrom(80, 65535), { maxLength: 2 }) })), { minLength: 1, maxLength: 2 }),
    }), { maxLength: 2 }),
  });
  const anyPolicy = fc.oneof({ weight: 1, arbitrary: policy }, { weight: 2, arbitrary: likely });

  it('nothing the parser accepts is refused by the schema', () => {
    let accepted = 0;
    fc.assert(fc.property(anyPolicy, (p) => {
      if (parserSays(p as Obj) !== undefined) return;
      accepted++;
      const s = schemaSays(p);
      assert.equal(s, undefined, `the parser accepts ${JSON.stringify(p)}, the schema says ${s}`);
    }), { numRuns: RUNS });
    assert.ok(accepted > RUNS / 20, `only ${accepted} of ${RUNS} generated policies were valid: the generator says little`);
  });

  it('everything the schema refuses, the parser refuses', () => {
    let refused = 0;
    fc.assert(fc.property(anyPolicy, (p) => {
      const s = schemaSays(p);
      if (s === undefined) return;
      refused++;
      assert.notEqual(parserSays(p as Obj), undefined, `the schema refuses ${JSON.stringify(p)} (${s}), the parser accepts it`);
    }), { numRuns: RUNS });
    assert.ok(refused > RUNS / 20, `only ${refused} of ${RUNS} generated policies were refused by the schema`);
  });
});
