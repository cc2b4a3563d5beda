// IPAM integrity: what is wrong in a snapshot of the IPAM keys, and which of it is safe to repair.
// Pure: the caller reads one consistent snapshot, asks here, and applies each repair with
// compare-and-swap against that snapshot (a repair whose keys moved since is skipped, never forced).
//
// Leaks are judged by a liveness oracle, so the same decision serves two callers: the CNI plugin's GC
// (live = the runtime's valid attachments) and `romana ipam check` (live = the host agent's report of
// the interfaces that exist). An address whose liveness is unknown is never called leaked.
import { type Cidr, cidrContainsIp, formatIp, tryParseCidr, tryParseIp } from '../net/ipv4.js';
import type { BlockState } from './ipam.js';

/** An address record as romanad stores it (the fields the check reads). */
export interface CheckAddress {
  name: string; ip: string; host: string; tenant: string; segment: string; network: string; block: string;
  attributes?: Record<string, string>;
  /** When romanad allocated it (ISO 8601); older records have none. */
  created_at?: string;
}

export type Liveness = { state: 'live' } | { state: 'dead'; why: string } | { state: 'unknown'; why: string };
export type LivenessOracle = (a: CheckAddress) => Liveness;

export type RepairAction =
  /** Release the address if it is still exactly as seen (same IP, same allocation time). */
  | { action: 'release'; address: string; ip: string; created_at?: string; host_gone?: boolean }
  /** Set a block's used offsets to those of the addresses that lie in it (an empty block is freed). */
  | { action: 'recount'; block: string; used: number[] }
  /** Point the IP index at this address. */
  | { action: 'index'; ip: string; address: string }
  /** Remove an IP index entry no address stands behind. */
  | { action: 'unindex'; ip: string; address: string }
  /** Remove the status report of a host that is gone. */
  | { action: 'drop_status'; host: string };

export const FINDING_KINDS = [
  'leaked', 'duplicate_ip', 'orphan_block', 'count_mismatch', 'overlapping_block', 'address_without_block',
  'address_outside_block', 'index_missing', 'index_wrong', 'index_dangling', 'orphan_status', 'bad_record', 'host_ip_collision',
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

export interface Finding {
  kind: FindingKind;
  /** What it is about: an address name, an IP, a block id or a host. */
  subject: string;
  host?: string;
  detail: string;
  /** True when `repair` may be applied without asking anyone. */
  safe: boolean;
  repair: RepairAction[];
  /** For findings that are not safe to repair: what an operator should do. */
  advice?: string;
}

/** A block as stored, with the caller's identity for it (romanad uses the store key). */
export interface CheckBlock extends BlockState { id: string }

export interface CheckInput {
  addresses: CheckAddress[];
  /** The IP index: IP -> address name. */
  ipIndex: { ip: string; address: string }[];
  blocks: CheckBlock[];
  /** Names of the hosts that exist. */
  hosts: string[];
  /** Hosts that have a status report stored. */
  reportingHosts?: string[];
  /** The hosts' own IPs, to find an endpoint that holds one. */
  hostIps?: { host: string; ip: string }[];
  /** Records that could not be read at all. */
  unreadable?: { id: string; why: string }[];
}

export interface CheckResult {
  findings: Finding[];
  /** Addresses whose liveness is unknown, counted by reason (they are never called leaked). */
  unjudged: { why: string; count: number }[];
}

const unknown = (why: string): Liveness => ({ state: 'unknown', why });

/** Addresses whose endpoint is known not to be live; every one is safe to release as seen. */
export function findLeaks(addresses: CheckAddress[], live: LivenessOracle): CheckResult {
  const findings: Finding[] = [];
  const unjudged = new Map<string, number>();
  for (const a of addresses) {
    const l = live(a);
    if (l.state === 'unknown') unjudged.set(l.why, (unjudged.get(l.why) ?? 0) + 1);
    if (l.state !== 'dead') continue;
    findings.push({
      kind: 'leaked', subject: a.name, host: a.host, detail: `${a.ip}: ${l.why}`, safe: true,
      repair: [{ action: 'release', address: a.name, ip: a.ip, ...(a.created_at ? { created_at: a.created_at } : {}) }],
    });
  }
  return { findings, unjudged: [...unjudged].map(([why, count]) => ({ why, count })).sort((x, y) => y.count - x.count || x.why.localeCompare(y.why)) };
}

/** CNI GC: an address this plugin made for this network is live exactly when its attachment is valid. */
export function attachmentLiveness(valid: { containerID: string; ifname: string }[], plugin: string, network: string): LivenessOracle {
  const ok = new Set(valid.map((v) => `${v.containerID}\0${v.ifname}`));
  return (a) => {
    const at = a.attributes;
    if (at?.plugin !== plugin || (at.cni_network ?? network) !== network) return unknown('not made by this plugin for this network');
    if (!at.container_id || !at.ifname) return unknown('no attachment recorded');
    return ok.has(`${at.container_id}\0${at.ifname}`) ? { state: 'live' } : { state: 'dead', why: `attachment ${at.container_id}/${at.ifname} is not valid any more` };
  };
}

/** What a host agent last reported: the interfaces that exist on the host, stamped by romanad on receipt. */
export interface HostReport { host: string; received_at: string; interfaces: string[]; last_applied_revision: number }

export interface ReportLivenessOptions {
  /** A report older than this says nothing (the agent may be down): its host's addresses are unknown. */
  staleMs: number;
  /** Allocation and veth creation are not atomic: an address this young at report time is unknown. */
  graceMs: number;
}

/**
 * `ipam check`: an endpoint (an address with a recorded host interface) is dead when its host's fresh
 * report, made at least `graceMs` after the allocation, lacks that interface.
 */
export function reportLiveness(reports: HostReport[], now: number, o: ReportLivenessOptions): LivenessOracle {
  const byHost = new Map(reports.map((r) => [r.host, { at: Date.parse(r.received_at), ifs: new Set(r.interfaces) }]));
  return (a) => {
    const ifname = a.attributes?.host_ifname;
    if (!ifname) return unknown('no host interface recorded (not a CNI endpoint)');
    const r = byHost.get(a.host);
    if (!r || Number.isNaN(r.at)) return unknown('its host has not reported');
    if (now - r.at > o.staleMs) return unknown(`its host's report is older than ${Math.round(o.staleMs / 1000)} s`);
    if (r.ifs.has(ifname)) return { state: 'live' };
    // Records from before allocation times were kept count as old.
    const created = a.created_at ? Date.parse(a.created_at) : Number.NEGATIVE_INFINITY;
    if (!(r.at - created >= o.graceMs)) return unknown('allocated too recently (an ADD may be in progress)');
    return { state: 'dead', why: `host ${a.host} reported at ${new Date(r.at).toISOString()} without interface ${ifname}` };
  };
}

const ownerOf = (x: { host: string; tenant: string; segment: string; network: string }) => `${x.host}\0${x.tenant}\0${x.segment}\0${x.network}`;

/** Every inconsistency in the snapshot, leaks included (by `live`). */
export function checkIpam(input: CheckInput, live: LivenessOracle): CheckResult {
  const out: Finding[] = [];
  const hosts = new Set(input.hosts);
  for (const u of input.unreadable ?? []) {
    out.push({ kind: 'bad_record', subject: u.id, detail: u.why, safe: false, repair: [], advice: 'inspect the key in the store and fix or remove it by hand' });
  }
  // Blocks, by owner and CIDR; their CIDRs parsed once.
  const blocks = new Map<string, { b: CheckBlock; cidr: Cidr; members: { a: CheckAddress; offset: number }[] }>();
  const byNetCidr = new Map<string, CheckBlock[]>();
  for (const b of input.blocks) {
    const cidr = tryParseCidr(b.cidr);
    if (!cidr) {
      out.push({ kind: 'bad_record', subject: b.id, detail: `block CIDR '${b.cidr}' does not parse`, safe: false, repair: [], advice: 'inspect the key in the store' });
      continue;
    }
    blocks.set(`${ownerOf(b)}\0${b.cidr}`, { b, cidr, members: [] });
    const k = `${b.network}\0${b.cidr}`;
    byNetCidr.set(k, [...(byNetCidr.get(k) ?? []), b]);
  }
  for (const [k, bs] of byNetCidr) {
    if (bs.length < 2) continue;
    out.push({
      kind: 'overlapping_block', subject: k.replace('\0', ' '), detail: `${bs.length} owners hold the same block: ${bs.map((b) => b.id).join(', ')}`,
      safe: false, repair: [], advice: 'release the addresses of all but one owner; their endpoints may have duplicate IPs',
    });
  }
  // Addresses: valid IP, a block of their own owner that contains them, one per IP, indexed.
  const index = new Map(input.ipIndex.map((e) => [e.ip, e.address]));
  const byIp = new Map<string, CheckAddress[]>();
  const names = new Map<string, CheckAddress>();
  const valid: CheckAddress[] = [];
  for (const a of input.addresses) {
    const ip = tryParseIp(a.ip);
    if (ip === undefined) {
      out.push({ kind: 'bad_record', subject: a.name, host: a.host, detail: `IP '${a.ip}' does not parse`, safe: false, repair: [], advice: 'inspect the address in the store' });
      continue;
    }
    valid.push(a);
    names.set(a.name, a);
    byIp.set(a.ip, [...(byIp.get(a.ip) ?? []), a]);
    const blk = blocks.get(`${ownerOf(a)}\0${a.block}`);
    if (!blk) {
      out.push({
        kind: 'address_without_block', subject: a.name, host: a.host, detail: `${a.ip}: block ${a.block} of ${a.tenant}:${a.segment} on ${a.host} does not exist, so the IP may be handed out again`,
        safe: false, repair: [], advice: `release it (romana address release ${a.name}) once its endpoint is gone`,
      });
    } else if (!cidrContainsIp(blk.cidr, ip)) {
      out.push({ kind: 'address_outside_block', subject: a.name, host: a.host, detail: `${a.ip} is not inside its block ${a.block}`, safe: false, repair: [], advice: `release it (romana address release ${a.name}) once its endpoint is gone` });
    } else {
      blk.members.push({ a, offset: ip - blk.cidr.base });
    }
  }
  for (const [ip, as] of byIp) {
    if (as.length > 1) {
      out.push({
        kind: 'duplicate_ip', subject: ip, host: as[0].host, detail: `${as.length} addresses hold ${ip}: ${as.map((a) => `${a.name} (host ${a.host})`).join(', ')}`,
        safe: false, repair: [], advice: 'remove all but one of these endpoints (their DEL releases them), then run `romana ipam check --repair`',
      });
      continue;
    }
    const a = as[0];
    const at = index.get(ip);
    if (at === a.name) continue;
    out.push({
      kind: at === undefined ? 'index_missing' : 'index_wrong', subject: a.name, host: a.host,
      detail: at === undefined ? `${ip} has no IP index entry (release by IP cannot find it)` : `the IP index sends ${ip} to '${at}', which does not hold it`,
      safe: true, repair: [{ action: 'index', ip, address: a.name }],
    });
  }
  for (const { ip, address } of input.ipIndex) {
    if (byIp.has(ip)) continue; // handled above
    const a = names.get(address);
    out.push({
      kind: 'index_dangling', subject: ip, detail: a ? `the IP index sends ${ip} to '${address}', which holds ${a.ip}` : `the IP index sends ${ip} to '${address}', which does not exist`,
      safe: true, repair: [{ action: 'unindex', ip, address }],
    });
  }
  // Blocks: an existing host, and exactly the offsets of the addresses in them.
  for (const { b, cidr, members } of blocks.values()) {
    if (!hosts.has(b.host)) {
      out.push({
        kind: 'orphan_block', subject: b.id, host: b.host, detail: `host ${b.host} is gone; the block ${b.cidr} holds ${members.length} address(es)`,
        safe: true, repair: members.length
          ? members.map(({ a }) => ({ action: 'release', address: a.name, ip: a.ip, ...(a.created_at ? { created_at: a.created_at } : {}), host_gone: true }))
          : [{ action: 'recount', block: b.id, used: [] }],
      });
    }
    const want = [...new Set(members.map((m) => m.offset))].sort((x, y) => x - y);
    const have = [...new Set(b.used)].sort((x, y) => x - y);
    if (have.length === b.used.length && want.join() === have.join()) continue;
    const ip = (o: number) => formatIp(cidr.base + o);
    const stale = have.filter((o) => !want.includes(o)).map(ip);
    const missing = want.filter((o) => !have.includes(o)).map(ip);
    out.push({
      kind: 'count_mismatch', subject: b.id, host: b.host,
      detail: `block ${b.cidr} records ${b.used.length} allocated, ${members.length} address(es) lie in it` +
        (stale.length ? `; marked used with no address: ${stale.join(', ')}` : '') + (missing.length ? `; in use but not marked (could be handed out twice): ${missing.join(', ')}` : ''),
      safe: true, repair: [{ action: 'recount', block: b.id, used: want }],
    });
  }
  for (const h of input.reportingHosts ?? []) {
    if (!hosts.has(h)) out.push({ kind: 'orphan_status', subject: h, host: h, detail: `a status report of host ${h}, which is gone`, safe: true, repair: [{ action: 'drop_status', host: h }] });
  }
  // A host's IP held by an endpoint: traffic for one reaches the other.
  for (const { host, ip } of input.hostIps ?? []) {
    for (const a of byIp.get(ip) ?? []) {
      out.push({
        kind: 'host_ip_collision', subject: ip, host, detail: `${ip} is the IP of host ${host} and of address ${a.name} (tenant ${a.tenant}, on host ${a.host})`,
        safe: false, repair: [], advice: `remove that endpoint (its DEL releases it) or release it (romana address release --name ${a.name}); a host's IP must lie outside every pod network`,
      });
    }
  }
  // Addresses of a host that is gone are the orphan block's business, duplicates an operator's.
  const leaks = findLeaks(valid.filter((a) => hosts.has(a.host) && byIp.get(a.ip)!.length === 1), live);
  const findings = [...out, ...leaks.findings].sort((x, y) => FINDING_KINDS.indexOf(x.kind) - FINDING_KINDS.indexOf(y.kind) || x.subject.localeCompare(y.subject));
  return { findings, unjudged: leaks.unjudged };
}
