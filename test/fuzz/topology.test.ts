// Hostile topology documents: arbitrary JSON values and valid documents mutated in a few places go
// through parseTopology (the core) and POST /topology (the API). Each is accepted, or refused with
// `invalid` naming the field; never another exception, a 5xx, a hang, or a changed store.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { parseTopology } from '../../src/core/topology/layout.js';
import { RUNS, assertPrototypeClean, deepJson, hostile, mutated, okOrInvalid } from './helpers.js';
import { type Seeded, seededApp } from './seed.js';

export const BASES: unknown[] = [
  {
    networks: [
      { name: 'pods', cidr: '10.112.0.0/16', block_mask: 29, tenants: ['a', 'b'] },
      { name: 'svc', cidr: '10.200.0.0/24' },
    ],
    topologies: [
      {
        networks: ['pods'],
        map: [
          { name: 'rack-1', assignment: { rack: 'r1' }, routing: { type: 'bgp', asn: 65001, peers: [{ name: 'tor-1', ip: '192.168.0.254', asn: 65101 }] }, groups: [{ name: 'h1', ip: '192.168.0.1', labels: { rack: 'r1' } }] },
          { name: 'rack-2', assignment: { rack: 'r2' }, groups: [{ name: 'z', groups: [] }, { name: 'y', groups: [] }, { name: 'x', groups: [] }] },
        ],
      },
      { networks: ['svc'], map: [] },
    ],
  },
  { type: 'vpc', 'num-azs': 3, 'prefix-groups': 'max', network: '10.192.0.0/16', zones: ['a', 'b', 'c'], block_mask: 28 },
  { networks: [{ name: 'n', cidr: '0.0.0.0/0', block_mask: 32 }], topologies: [{ networks: ['n'], map: [{ cidr: '0.0.0.0/1', cidrs: { n: '0.0.0.0/1' }, groups: [] }] }] },
];

/** A document whose network `n` holds `map`. */
const doc = (map: unknown[], cidr = '10.0.0.0/8', blockMask = 32) => ({ networks: [{ name: 'n', cidr, block_mask: blockMask }], topologies: [{ networks: ['n'], map }] });

/** `levels` groups nested one inside the other (built without recursion). */
function nested(levels: number): unknown {
  let g: unknown = { name: 'leaf', groups: [] };
  for (let i = 0; i < levels; i++) g = { name: `g${i}`, groups: [g] };
  return g;
}

describe('parseTopology on hostile documents', () => {
  after(assertPrototypeClean);

  it('property: any JSON value is a layout or an invalid naming the field', () => {
    fc.assert(fc.property(hostile, (v) => void okOrInvalid(() => parseTopology(v))), { numRuns: RUNS });
  });

  it('property: valid documents changed in 1-3 places', () => {
    fc.assert(fc.property(mutated(BASES), (v) => void okOrInvalid(() => parseTopology(v))), { numRuns: RUNS * 2 });
  });

  it('property: odd CIDRs and block masks', () => {
    const cidr = fc.oneof(fc.string({ maxLength: 20 }), fc.tuple(fc.nat(300), fc.nat(300), fc.nat(300), fc.nat(300), fc.integer({ min: -1, max: 40 })).map((p) => `${p.slice(0, 4).join('.')}/${p[4]}`));
    const mask = fc.oneof(fc.integer({ min: -5, max: 40 }), fc.constantFrom(1e308, 2 ** 53, -0, 1.5));
    fc.assert(fc.property(cidr, mask, fc.nat(40), (c, m, n) => {
      const map = Array.from({ length: n }, () => ({ groups: [] }));
      okOrInvalid(() => parseTopology({ networks: [{ name: 'n', cidr: c, block_mask: m }], topologies: [{ networks: ['n'], map }] }));
    }), { numRuns: RUNS });
  });

  it('regression: thousands of nested groups are an invalid, not a stack overflow', () => {
    for (const levels of [200, 2000, 50000]) {
      const e = okOrInvalid(() => parseTopology(doc([nested(levels)])));
      assert.match(String((e as Error).message), /^topologies\[0\]\.map\[0\]\.groups\[0\].*nested more than \d+ levels deep/);
    }
  });

  it('regression: a deeply nested extra field is an invalid, not a 500 when the document is stored', () => {
    const v = JSON.parse(`{"networks":[{"name":"n","cidr":"10.0.0.0/8","x":${deepJson(10000)}}],"topologies":[]}`);
    assert.match(String((okOrInvalid(() => parseTopology(v)) as Error).message), /^networks\[0\]\.x\.a.*nested more than/);
  });

  it('sixty levels of single groups still parse (legitimately deep trees are not refused)', () => {
    assert.equal(parseTopology(doc([nested(60)])).leaves.length, 1);
  });

  it('enormous group counts finish quickly: 4096 groups, and 4096 x 16 in a /0', () => {
    okOrInvalid(() => parseTopology(doc(Array.from({ length: 4096 }, () => ({ groups: [] })), '10.0.0.0/8')));
    const wide = Array.from({ length: 4096 }, () => ({ groups: Array.from({ length: 16 }, () => ({ groups: [] })) }));
    assert.equal((okOrInvalid(() => parseTopology(doc(wide, '0.0.0.0/0')), 5000) as { leaves: unknown[] }).leaves.length, 4096 * 16);
    // 4097 siblings exceed the schema's limit; 2^12 groups in a /24 do not fit.
    okOrInvalid(() => parseTopology(doc(Array.from({ length: 4097 }, () => ({ groups: [] })))));
    okOrInvalid(() => parseTopology(doc(Array.from({ length: 4096 }, () => ({ groups: [] })), '10.0.0.0/24')));
  });
});

describe('POST /topology with hostile bodies', () => {
  let s: Seeded;
  let app: FastifyInstance;
  before(async () => {
    s = await seededApp({ rateLimit: false });
    app = s.app;
  });
  after(async () => s.close());

  it('property: status < 500, 4xx bodies are {error: invalid|conflict|exists, message}, rejected bodies change nothing', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(hostile, mutated(BASES)), async (v) => {
      const before = await s.snapshot();
      const r = await app.inject({ method: 'POST', url: '/topology', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(v) ?? 'null' });
      assert.ok(r.statusCode < 500, `${r.statusCode} ${r.body}`);
      if (r.statusCode >= 300) {
        const b = r.json();
        assert.ok(['invalid', 'conflict', 'exists', 'no_suitable_group'].includes(b.error), r.body);
        assert.equal(typeof b.message, 'string');
        assert.equal(await s.snapshot(), before, `store changed by a rejected ${JSON.stringify(v)?.slice(0, 300)}`);
      }
    }), { numRuns: RUNS });
  });

  it('regression: 50,000 nested groups over HTTP are a 400 naming the field, the store unchanged', async () => {
    const before = await s.snapshot();
    const text = `{"networks":[{"name":"n","cidr":"10.0.0.0/8"}],"topologies":[{"networks":["n"],"map":[${'{"groups":['.repeat(50000)}${']}'.repeat(50000)}]}]}`;
    const r = await app.inject({ method: 'POST', url: '/topology', headers: { 'content-type': 'application/json' }, payload: text });
    assert.equal(r.statusCode, 400, r.body);
    assert.match(r.json().message, /^topologies\[0\]\.map\[0\]\.groups\[0\].*nested more than/);
    assert.equal(await s.snapshot(), before);
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  });
});
