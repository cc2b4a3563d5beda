// The Romana policy format as an OpenAPI v3 structural schema: the `spec` of a RomanaPolicy custom
// resource (romanapolicies.romana.io), whose CRD carries it so that the API server checks the shape
// and kubectl explains it. romana.ts stays the judge of meaning (one of tenant/cidr/peer, port ranges in
// order, CIDRs without host bits, ...); test/policy/romana-schema.test.ts keeps the two in step: every
// field one knows the other knows, and nothing romana.ts accepts is refused here.

type S = Record<string, unknown>;

const intOrString = { 'x-kubernetes-int-or-string': true };
const PROTOCOL = '^([tT][cC][pP]|[uU][dD][pP]|[sS][cC][tT][pP]|[iI][cC][mM][pP]|[aA][nN][yY])$';

const endpoint: S = {
  type: 'object',
  description: 'Exactly one of: a tenant (a namespace) with an optional segment (the value of the segment pod label), a cidr, or a peer.',
  properties: {
    tenant: { ...intOrString, description: 'Tenant: a Kubernetes namespace.' },
    tenant_id: { ...intOrString, description: 'Alias of tenant.' },
    tenant_name: { ...intOrString, description: 'Alias of tenant.' },
    segment: { ...intOrString, description: 'Segment: the value of the segment label of the pods.' },
    segment_id: { ...intOrString, description: 'Alias of segment.' },
    segment_name: { ...intOrString, description: 'Alias of segment.' },
    cidr: { type: 'string', description: 'An IPv4 CIDR without host bits.' },
    peer: { type: 'string', enum: ['any', 'host'], description: '"any": every address; "host": the host the endpoint runs on.' },
  },
};

const port = { type: 'integer', minimum: 1, maximum: 65535 };
const rule: S = {
  type: 'object',
  required: ['protocol'],
  properties: {
    protocol: { type: 'string', pattern: PROTOCOL, description: 'tcp, udp, sctp, icmp or any (any case).' },
    ports: { type: 'array', items: port },
    port_ranges: { type: 'array', items: { type: 'array', items: port, minItems: 2, maxItems: 2 }, description: '[low, high] pairs.' },
    icmp_type: { type: 'integer', minimum: 0, maximum: 255 },
    icmp_code: { type: 'integer', minimum: 0, maximum: 255 },
    is_stateful: { type: 'boolean' },
  },
};

const entry: S = {
  type: 'object',
  required: ['peers', 'rules'],
  properties: {
    peers: { type: 'array', minItems: 1, items: endpoint },
    rules: { type: 'array', minItems: 1, items: rule },
  },
};

/** The fields of a Romana policy other than its id, which a custom resource takes from metadata.name. */
export const ROMANA_POLICY_SPEC_SCHEMA: S = {
  type: 'object',
  required: ['direction', 'applied_to'],
  properties: {
    description: { type: 'string' },
    direction: { type: 'string', enum: ['ingress', 'egress'] },
    applied_to: { type: 'array', minItems: 1, items: endpoint, description: 'The endpoints the policy applies to.' },
    ingress: { type: 'array', items: entry, description: 'The rules (for both directions, as in Romana).' },
    egress: { type: 'array', items: entry, description: 'Alias of ingress.' },
  },
};

/** Fields of a Romana policy that the custom resource does not carry in its spec. */
export const ROMANA_POLICY_ID_FIELDS = ['id', 'name', 'external_id', 'kind'] as const;
