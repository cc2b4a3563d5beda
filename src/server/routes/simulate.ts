// POST /policies/simulate: `romana policy simulate` and `explain` over the live cluster (the same
// endpoints, labels and policies the agents compile) or over a cluster file sent in the body. One
// route for both: without `explain` it answers verdicts, with it each result carries its reasons.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { buildCluster } from '../../agent/desired.js';
import { invalid } from '../../core/errors.js';
import { type Cluster, endpointByKey, parseCluster } from '../../core/policy/cluster.js';
import { type Probe, Evaluator, defaultProbes, parsePortProto } from '../../core/policy/evaluate.js';
import { DEFAULT_SEGMENT_LABEL } from '../../core/policy/model.js';
import { withPath } from '../../core/policy/normalize.js';
import type { Control } from '../../control/control.js';
import { ROOT } from '../../control/keys.js';

/** More would be a response of megabytes: ask for the probes wanted instead. */
export const MAX_PROBES = 50_000;

const Protocol = Type.Union(['TCP', 'UDP', 'SCTP', 'ICMP'].map((p) => Type.Literal(p)));
const ProbeSchema = Type.Object({
  from: Type.String({ minLength: 1, maxLength: 512 }), to: Type.String({ minLength: 1, maxLength: 512 }),
  port: Type.Integer({ minimum: 0, maximum: 65535 }), protocol: Protocol,
}, { additionalProperties: false });
const Body = Type.Object({
  cluster: Type.Optional(Type.Unknown({ description: 'a cluster file (YAML or JSON text, or the object); absent: the live cluster' })),
  probes: Type.Optional(Type.Array(ProbeSchema, { maxItems: MAX_PROBES, description: 'absent: every pod and external to every pod port' })),
  explain: Type.Optional(Type.Boolean({ description: 'each result with the policies and rules deciding each direction' })),
  segment_label: Type.Optional(Type.String({ minLength: 1, maxLength: 317 })),
}, { additionalProperties: false });

const RuleMatch = Type.Object({ policy: Type.String(), rule: Type.String(), peer: Type.Optional(Type.String()), port: Type.Optional(Type.String()) });
const Direction = Type.Object({
  direction: Type.String(), endpoint: Type.String(), isolated: Type.Boolean(), policies: Type.Array(Type.String()),
  allowed: Type.Boolean(), allowedBy: Type.Array(RuleMatch), reason: Type.String(),
});
const Result = Type.Object({
  from: Type.String(), to: Type.String(), port: Type.Integer(), protocol: Type.String(), allowed: Type.Boolean(),
  egress: Type.Optional(Direction), ingress: Type.Optional(Direction),
});
const Port = Type.Object({ name: Type.Optional(Type.String()), port: Type.Integer(), protocol: Type.String() });
const Answer = Type.Object({
  source: Type.Union([Type.Literal('live'), Type.Literal('file')]),
  revision: Type.Optional(Type.Integer({ description: 'the store revision of the live cluster' })),
  results: Type.Array(Result),
  endpoints: Type.Object({
    pods: Type.Array(Type.Object({ key: Type.String(), namespace: Type.String(), name: Type.String(), ip: Type.String(), host: Type.Optional(Type.String()), ports: Type.Array(Port) })),
    externals: Type.Array(Type.Object({ key: Type.String(), name: Type.String(), ip: Type.String() })),
  }),
  policies: Type.Array(Type.Object({ id: Type.String(), kind: Type.String(), object: Type.Record(Type.String(), Type.Unknown()) })),
  problems: Type.Array(Type.String(), { description: 'live: store records left out, and why' }),
});

type BodyT = { cluster?: unknown; probes?: Probe[]; explain?: boolean; segment_label?: string };

function checkProbes(c: Cluster, probes: Probe[]): Probe[] {
  probes.forEach((p, i) => {
    for (const f of ['from', 'to'] as const) {
      if (!endpointByKey(c, p[f])) throw invalid(`probes[${i}].${f}: no pod or external named '${p[f]}' (pods are namespace/name, externals ext/<name>)`);
    }
    parsePortProto(`${p.port}/${p.protocol}`, `probes[${i}]`);
  });
  return probes;
}

export const simulateRoutes = (control: Control): FastifyPluginAsync => async (app) => {
  app.post('/policies/simulate', {
    schema: {
      tags: ['policies'], summary: 'Simulate (and explain) probes over the live cluster or a cluster file, as `romana policy simulate|explain`',
      body: Body, response: { 200: Answer },
    },
    // Answers only what GET /policies, /pods and /addresses already tell a reader.
    config: { access: 'read' },
  }, async (req) => {
    const b = req.body as BodyT;
    const segmentLabel = b.segment_label ?? DEFAULT_SEGMENT_LABEL;
    let cluster: Cluster;
    let revision: number | undefined;
    let problems: string[] = [];
    if (b.cluster === undefined) {
      const all = await control.store.list(ROOT);
      ({ cluster, problems } = buildCluster(new Map(all.items.map((kv) => [kv.key, kv.value])), { segmentLabel }));
      revision = all.revision;
    } else {
      if (typeof b.cluster !== 'string' && (typeof b.cluster !== 'object' || b.cluster === null || Array.isArray(b.cluster))) {
        throw invalid('cluster: must be a cluster file: YAML or JSON text, or an object');
      }
      cluster = withPath('cluster', () => parseCluster(b.cluster, { segmentLabel }));
    }
    if (!b.probes) {
      const n = (cluster.pods.length + cluster.externals.length) * cluster.pods.reduce((s, p) => s + p.ports.length, 0);
      if (n > MAX_PROBES) throw invalid(`probes: the cluster has ${n} default probes, more than ${MAX_PROBES}; ask for fewer with probes`);
    }
    const probes = b.probes ? checkProbes(cluster, b.probes) : defaultProbes(cluster);
    const ev = new Evaluator(cluster);
    const results = probes.map((p) => (b.explain ? ev.explain(p) : { ...p, allowed: ev.allowed(p) }));
    return {
      source: b.cluster === undefined ? 'live' : 'file', ...(revision !== undefined ? { revision } : {}), results,
      endpoints: {
        pods: cluster.pods.map((p) => ({ key: p.key, namespace: p.namespace, name: p.name, ip: p.ip, ...(p.host ? { host: p.host } : {}), ports: p.ports })),
        externals: cluster.externals.map((e) => ({ key: e.key, name: e.name, ip: e.ip })),
      },
      policies: cluster.policies.map((p) => ({ id: p.id, kind: p.kind, object: p.object })),
      problems,
    };
  });
};
