// The only code in the plugin that touches the kernel. Process starts dominate a CNI call, so each
// step is ONE `ip -batch` (host side) or ONE `nsenter ... ip -batch` (pod side), sysctls are written as
// /proc/sys files (those belong to the writer's network namespace), and nothing is read back: names
// and MACs are chosen here, so a result needs no query.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { Code, cniError } from './spec.js';

/** The pod's gateway: a link-local address the host veth answers by proxy ARP (Calico style). */
export const GATEWAY = '169.254.1.1';

const which = (name: string, dirs = ['/usr/sbin', '/sbin', '/usr/bin', '/bin']) => dirs.map((d) => `${d}/${name}`).find((p) => existsSync(p)) ?? name;
let IP: string | undefined;
let NSENTER: string | undefined;

/** Two FNV-1a lanes: 64 bits, enough to keep veth names and MACs apart on one host, without loading node:crypto. */
export function hash64(s: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

/** Host-side veth name: `rmn` + 12 hex digits of a hash of the attachment (15 characters, the kernel's limit). */
export const hostVethName = (containerId: string, ifname: string) => `rmn${hash64(`${containerId}/${ifname}`).slice(0, 12)}`;

/** Fixed MACs (locally administered, unicast) so a result needs no read-back from the kernel. */
export function macsFor(containerId: string, ifname: string): { host: string; pod: string } {
  const h = hash64(`mac/${containerId}/${ifname}`);
  const mac = (first: string, rest: string) => [first, ...rest.match(/../g)!].join(':');
  return { host: mac('ee', h.slice(0, 10)), pod: mac('0a', h.slice(6, 16)) };
}

interface Run { code: number; stdout: string; stderr: string }

function run(cmd: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('error', (e) => reject(cniError(Code.generic, `cannot run ${cmd}: ${e.message}`)));
    p.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr: stderr.trim() }));
    p.stdin.end(input ?? '');
  });
}

const ip = (args: string[], input?: string) => run((IP ??= which('ip')), args, input);
const ipIn = (netns: string, args: string[], input?: string) => run((NSENTER ??= which('nsenter')), [`--net=${netns}`, (IP ??= which('ip')), ...args], input);

function check(r: Run, what: string): void {
  if (r.code !== 0) throw cniError(Code.generic, `${what} failed: ${r.stderr || `exit ${r.code}`}`);
}

/** Does a link of this name exist in the caller's (host) network namespace? Free: no process. */
export const hostLinkExists = (name: string) => existsSync(`/proc/sys/net/ipv4/conf/${name}`);

export interface Veth { hostVeth: string; ifname: string; netns: string; mtu: number; hostMac: string; podMac: string }

/**
 * Creates the veth pair with its pod end directly in the pod's namespace (iproute2 takes a path for
 * `netns`) and brings the host end up. Fails when the pod already has an interface of that name.
 */
export async function createVeth(v: Veth): Promise<void> {
  const r = await ip(['-batch', '-'], [
    `link add ${v.hostVeth} mtu ${v.mtu} address ${v.hostMac} type veth peer name ${v.ifname} mtu ${v.mtu} address ${v.podMac} netns ${v.netns}`,
    `link set ${v.hostVeth} up`,
  ].join('\n') + '\n');
  if (r.code !== 0 && /File exists/.test(r.stderr)) throw cniError(Code.generic, `an interface named ${v.ifname} already exists in ${v.netns}`, r.stderr);
  check(r, 'creating the veth pair');
}

/** Host side: the pod's /32 through its veth (idempotent). */
export async function routeToPod(hostVeth: string, podIp: string): Promise<void> {
  check(await ip(['-batch', '-'], `link set ${hostVeth} up\nroute replace ${podIp}/32 dev ${hostVeth} scope link\n`), 'routing the pod address');
}

/**
 * proxy_arp answers the pod's ARP for the gateway; proxy_delay=0 or each answer waits up to 0.8 s;
 * forwarding on this interface is what lets proxy ARP answer at all (the kernel only proxies on
 * forwarding interfaces) and lets the pod's packets be routed on.
 */
export function setHostSysctls(hostVeth: string): void {
  writeFileSync(`/proc/sys/net/ipv4/conf/${hostVeth}/proxy_arp`, '1');
  writeFileSync(`/proc/sys/net/ipv4/neigh/${hostVeth}/proxy_delay`, '0');
  writeFileSync(`/proc/sys/net/ipv4/conf/${hostVeth}/forwarding`, '1');
  // A pod's traffic to itself comes back out of the interface it came in by (see hairpin): no redirects.
  writeFileSync(`/proc/sys/net/ipv4/conf/${hostVeth}/send_redirects`, '0');
}

/** Pod side, one process: lo up, the /32, the interface up, the gateway as a link route and the default route. */
export async function configurePod(netns: string, ifname: string, podIp: string): Promise<void> {
  check(await ipIn(netns, ['-batch', '-'], [
    'link set lo up',
    `addr replace ${podIp}/32 dev ${ifname}`,
    `link set ${ifname} up`,
    `route replace ${GATEWAY} dev ${ifname} scope link`,
    `route replace default via ${GATEWAY} dev ${ifname}`,
    `route replace default via ${GATEWAY} dev ${ifname} onlink table ${HAIRPIN_TABLE}`,
  ].join('\n') + '\n'), `configuring ${ifname} in ${netns}`);
  await hairpin(netns, ifname, podIp);
}

/**
 * A pod's connections to its own address leave through the host and come back, so the host firewall
 * judges them like any other (NetworkPolicy applies to a pod talking to itself by its IP). The local
 * table moves after a rule that sends locally generated traffic for the pod's own IP to the gateway;
 * `accept_local` lets the returning packet, whose source is local, in. Re-running it changes nothing
 * (duplicate or missing rules are ignored with -force, then the result is checked).
 */
export const HAIRPIN_TABLE = 82;
async function hairpin(netns: string, ifname: string, podIp: string): Promise<void> {
  const rules = [`rule add pref 10 to ${podIp}/32 iif lo lookup ${HAIRPIN_TABLE}`, 'rule add pref 100 lookup local', 'rule del pref 0 lookup local'];
  const script = `${(IP ??= which('ip'))} -force -batch - >/dev/null 2>&1; echo 1 > /proc/sys/net/ipv4/conf/${ifname}/accept_local && ${IP} rule show`;
  const r = await run((NSENTER ??= which('nsenter')), [`--net=${netns}`, 'sh', '-c', script], rules.join('\n') + '\n');
  check(r, `routing ${ifname}'s own address through the host`);
  if (!r.stdout.includes(`to ${podIp} iif lo lookup ${HAIRPIN_TABLE}`) || /^0:/m.test(r.stdout)) {
    throw new Error(`routing ${ifname}'s own address through the host: unexpected rules:\n${r.stdout}`);
  }
}

/** Removes a host-side link (its veth peer goes with it). Missing is success. */
export async function deleteHostLink(name: string): Promise<void> {
  if (!hostLinkExists(name)) return;
  const r = await ip(['link', 'del', name]);
  if (r.code !== 0 && !/Cannot find device|does not exist/.test(r.stderr)) check(r, `deleting ${name}`);
}

export interface LinkInfo { ifname: string; address?: string; mtu?: number; flags?: string[]; operstate?: string }
export interface AddrInfo { ifname: string; addr_info: { family: string; local: string; prefixlen: number }[] }
export interface RouteInfo { dst: string; gateway?: string; dev?: string; scope?: string }
export interface NetnsView { links: LinkInfo[]; addrs: AddrInfo[]; routes: RouteInfo[] }

/** Links, addresses and main-table routes of a namespace (undefined: the caller's), in one process. */
export async function inspect(netns?: string): Promise<NetnsView> {
  const args = ['-j', '-batch', '-'];
  const input = 'link show\naddr show\nroute show\n';
  const r = netns ? await ipIn(netns, args, input) : await ip(args, input);
  check(r, `inspecting ${netns ?? 'the host namespace'}`);
  const [links, addrs, routes] = r.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as unknown[]);
  return { links: (links ?? []) as LinkInfo[], addrs: (addrs ?? []) as AddrInfo[], routes: (routes ?? []) as RouteInfo[] };
}
