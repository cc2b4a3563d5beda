// Romana policies → the internal model.
//
//   {"id", "direction": "ingress"|"egress", "description"?, "applied_to": [Endpoint],
//    "ingress": [{"peers": [Endpoint], "rules": [Rule]}]}          ("egress" is accepted as an alias)
//
// As in Romana, an egress policy also lists its (destination) peers under `ingress`. Endpoint is exactly
// one of {tenant, segment?} (tenant = namespace, segment = value of the segment pod label), {cidr} or
// {peer: "any"|"host"}; `tenant_id`/`segment_id` are accepted for Romana compatibility.
import { formatCidr } from '../net/ipv4.js';
import { at, arr, describe, dnsLabel, fail, int, obj, onlyKeys, str, type Obj } from './fields.js';
import { strictCidr } from './kubernetes.js';
import { DEFAULT_SEGMENT_LABEL, type NormalizeOptions, type Peer, type Policy, type PortMatch, type Rule } from './model.js';

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$/;

export function fromRomanaPolicy(o: Obj, opts: NormalizeOptions = {}): Policy {
  onlyKeys(o, '', ['id', 'name', 'external_id', 'kind', 'description', 'direction', 'applied_to', 'ingress', 'egress']);
  if (o.kind !== undefined && o.kind !== 'RomanaPolicy') fail('kind', `must be 'RomanaPolicy' (or absent) for a Romana policy, got ${describe(o.kind)}`);
  const rawId = o.id ?? o.name;
  if (rawId === undefined || rawId === null) fail('id', 'required (a name such as "tenant-a-web-ingress")');
  const idPath = o.id !== undefined && o.id !== null ? 'id' : 'name';
  const id = typeof rawId === 'number' && Number.isInteger(rawId) && rawId >= 0 ? String(rawId) : str(rawId, idPath);
  if (!ID.test(id)) fail(idPath, `'${id}' is not a valid id (letters, digits, '.', '_', ':' and '-'; no '/')`);
  if (o.name !== undefined && o.id !== undefined && typeof o.name !== 'string') fail('name', 'must be a string');
  if (o.description !== undefined && typeof o.description !== 'string') fail('description', 'must be a string');
  if (o.direction !== 'ingress' && o.direction !== 'egress') fail('direction', `must be 'ingress' or 'egress', got ${describe(o.direction)}`);
  const segKey = opts.segmentLabel ?? DEFAULT_SEGMENT_LABEL;

  const appliedTo = arr(o.applied_to, 'applied_to');
  if (appliedTo.length === 0) fail('applied_to', 'must list at least one endpoint');
  const appliesTo = appliedTo.map((e, i) => endpoint(e, `applied_to[${i}]`, segKey));

  if (o.ingress !== undefined && o.egress !== undefined) fail('egress', "give the rules under 'ingress' (Romana's name for both directions) or 'egress', not both");
  const key = o.egress !== undefined ? 'egress' : 'ingress';
  const entries = o[key] === undefined || o[key] === null ? [] : arr(o[key], key);
  const rules = entries.map((e, i) => entry(e, `${key}[${i}]`, segKey));

  return {
    id,
    kind: 'RomanaPolicy',
    name: typeof o.name === 'string' ? o.name : id,
    description: o.description as string | undefined,
    appliesTo,
    ingress: o.direction === 'ingress' ? rules : undefined,
    egress: o.direction === 'egress' ? rules : undefined,
    object: structuredClone(o),
  };
}

function entry(v: unknown, path: string, segKey: string): Rule {
  const o = obj(v, path);
  onlyKeys(o, path, ['peers', 'rules']);
  const peers = arr(o.peers, at(path, 'peers'));
  if (peers.length === 0) fail(at(path, 'peers'), 'must list at least one peer (use {"peer": "any"} for every peer)');
  const rules = arr(o.rules, at(path, 'rules'));
  if (rules.length === 0) fail(at(path, 'rules'), 'must list at least one rule (use {"protocol": "any"} for all traffic)');
  return {
    peers: peers.map((p, j) => endpoint(p, at(at(path, 'peers'), j), segKey)),
    ports: rules.flatMap((r, k) => rule(r, at(at(path, 'rules'), k))),
    path,
  };
}

/** One of the aliases of a field; all given aliases must agree. */
function alias(o: Obj, path: string, names: string[]): { value: unknown; key: string } | undefined {
  let found: { value: unknown; key: string } | undefined;
  for (const n of names) {
    if (o[n] === undefined || o[n] === null) continue;
    // Romana's ids are integers; a fraction is no id (and the CRD's int-or-string schema refuses it too).
    const value = Number.isInteger(o[n]) ? String(o[n]) : o[n];
    if (found && found.value !== value) fail(at(path, n), `disagrees with ${found.key}`);
    found ??= { value, key: n };
  }
  return found;
}

function endpoint(v: unknown, path: string, segKey: string): Peer {
  const o = obj(v, path);
  onlyKeys(o, path, ['tenant', 'tenant_id', 'tenant_name', 'segment', 'segment_id', 'segment_name', 'cidr', 'peer']);
  const tenant = alias(o, path, ['tenant', 'tenant_id', 'tenant_name']);
  const segment = alias(o, path, ['segment', 'segment_id', 'segment_name']);
  const given = [tenant && 'tenant', o.cidr !== undefined && 'cidr', o.peer !== undefined && 'peer'].filter(Boolean);
  if (given.length > 1) fail(path, `give exactly one of tenant (with an optional segment), cidr or peer, not ${given.join(' and ')}`);
  if (segment && !tenant) fail(at(path, segment.key), 'a segment needs its tenant');
  if (tenant) {
    const namespace = dnsLabel(tenant.value, at(path, tenant.key));
    if (!segment) return { kind: 'pods', namespace, podSelector: { matchLabels: {}, matchExpressions: [] }, path };
    const seg = str(segment.value, at(path, segment.key));
    return { kind: 'pods', namespace, podSelector: { matchLabels: { [segKey]: seg }, matchExpressions: [] }, path };
  }
  if (o.cidr !== undefined) {
    return { kind: 'cidr', cidr: formatCidr(strictCidr(o.cidr, at(path, 'cidr'))), except: [], path };
  }
  if (o.peer === 'any') return { kind: 'any', path };
  if (o.peer === 'host') return { kind: 'host', path };
  if (o.peer !== undefined) fail(at(path, 'peer'), `must be 'any' or 'host', got ${describe(o.peer)}`);
  fail(path, 'must give a tenant (with an optional segment), a cidr or a peer');
}

const PROTOCOLS = ['tcp', 'udp', 'sctp', 'icmp', 'any'] as const;

function rule(v: unknown, path: string): PortMatch[] {
  const o = obj(v, path);
  onlyKeys(o, path, ['protocol', 'ports', 'port_ranges', 'icmp_type', 'icmp_code', 'is_stateful']);
  const proto = typeof o.protocol === 'string' ? o.protocol.toLowerCase() : undefined;
  if (!proto || !(PROTOCOLS as readonly string[]).includes(proto)) {
    fail(at(path, 'protocol'), `must be one of ${PROTOCOLS.join(', ')}, got ${describe(o.protocol)}`);
  }
  if (o.is_stateful !== undefined && typeof o.is_stateful !== 'boolean') fail(at(path, 'is_stateful'), 'must be true or false');
  const hasPorts = o.ports !== undefined || o.port_ranges !== undefined;
  const hasIcmp = o.icmp_type !== undefined || o.icmp_code !== undefined;
  if (proto === 'icmp' || proto === 'any') {
    if (hasPorts) fail(at(path, o.ports !== undefined ? 'ports' : 'port_ranges'), `ports need protocol tcp, udp or sctp, not ${proto}`);
    if (proto === 'any') {
      if (hasIcmp) fail(at(path, o.icmp_type !== undefined ? 'icmp_type' : 'icmp_code'), 'needs protocol icmp');
      return [{ protocol: 'ANY', path }];
    }
    const m: PortMatch = { protocol: 'ICMP', path };
    if (o.icmp_type !== undefined) m.icmpType = int(o.icmp_type, at(path, 'icmp_type'), 0, 255);
    if (o.icmp_code !== undefined) {
      if (m.icmpType === undefined) fail(at(path, 'icmp_code'), 'needs an icmp_type');
      m.icmpCode = int(o.icmp_code, at(path, 'icmp_code'), 0, 255);
    }
    return [m];
  }
  if (hasIcmp) fail(at(path, o.icmp_type !== undefined ? 'icmp_type' : 'icmp_code'), `needs protocol icmp, not ${proto}`);
  const protocol = proto.toUpperCase() as 'TCP' | 'UDP' | 'SCTP';
  const out: PortMatch[] = [];
  const ports = o.ports === undefined ? [] : arr(o.ports, at(path, 'ports'));
  ports.forEach((p, i) => out.push({ protocol, port: int(p, at(at(path, 'ports'), i), 1, 65535), path }));
  const ranges = o.port_ranges === undefined ? [] : arr(o.port_ranges, at(path, 'port_ranges'));
  ranges.forEach((r, i) => {
    const p = at(at(path, 'port_ranges'), i);
    const pair = arr(r, p);
    if (pair.length !== 2) fail(p, `must be [low, high], got ${pair.length} numbers`);
    const lo = int(pair[0], at(p, 0), 1, 65535);
    const hi = int(pair[1], at(p, 1), lo, 65535);
    out.push({ protocol, port: lo, endPort: hi, path });
  });
  if (out.length === 0) out.push({ protocol, path }); // tcp with no ports: every tcp port
  return out;
}
