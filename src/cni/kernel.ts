// The only code in the plugin that touches the kernel. Process starts dominate a CNI call, so each
// step is ONE `ip -batch` (host side) or ONE `nsenter ... ip -batch` (pod side), sysctls are written as
// /proc/sys files (those belong to the writer's network namespace), and nothing is read back: names
// and MACs are chosen here, so a result needs no query.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { POD_IFACE_PREFIX } from '../core/dataplane.js';
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
export const hostVethName = (containerId: string, ifname: string) => `${POD_IFACE_PREFIX}${hash64(`${containerId}/${ifname}`).slice(0, 12)}`;

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
    p.stdin.on('error', () => undefined); // a command that exits without reading its input: its exit code tells
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

export interface Plumbing {
  /** Resolves once the veth pair exists with its host sysctls set (rejects if making it failed). */
  ready: Promise<void>;
  /** Routes the pod's /32 through the veth and configures the pod side; resolves once both are done and checked. */
  configure(podIp: string): Promise<void>;
  /** Ends the process if `configure` was never called (nothing more is changed then). */
  close(): void;
  /** Settles when the process has exited (nothing more can change on the host after it). */
  exited: Promise<unknown>;
}

/**
 * A fresh ADD's kernel work in ONE process started by the plugin: a process start holds the plugin's
 * one thread for a fork of the whole Node process, and was most of what an ADD cost beyond Node's own
 * start-up. A shell pipeline: the left side makes the veth pair at once (one `ip -batch`), says so on
 * the plugin's stdout (fd 3) once its sysctls are set too, waits for the address on stdin (the plugin
 * writes it as soon as romanad answers, made or not), hands it to the pod side and routes the /32;
 * the right side is the pod side (POD_SCRIPT, in the pod's namespace), started at once so that
 * its start-up overlaps the allocation as well. Arguments are positional, never part of the script.
 */
const plumbScript = () => `exec 3>&1
{
ip -batch - <<EOF || exit 4
link add $1 mtu $2 address $3 type veth peer name $4 mtu $2 address $5 netns $6
link set $1 up
EOF
${HOST_SYSCTLS.map(([path, value]) => `echo ${value} > ${path('$1')}`).join('\n')}
echo veth >&3
read -r IF IP || exit 0
echo "$IF $IP"
ip route replace "$IP/32" dev "$1" scope link || echo "romana-cni: route-failed" >&2
} | nsenter --net="$6" sh -ec "$7" romana-cni
`;

/** The command plumb() runs (bench/cni times the same process without the plugin around it). */
export const plumbCommand = (v: Veth): [string, string[]] =>
  ['sh', ['-ec', plumbScript(), 'romana-cni', v.hostVeth, String(v.mtu), v.hostMac, v.ifname, v.podMac, v.netns, POD_SCRIPT]];

export function plumb(v: Veth): Plumbing {
  const p = spawn(...plumbCommand(v), { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/sbin:/usr/bin:/bin' } });
  let stdout = '';
  let stderr = '';
  let made!: () => void;
  const saidVeth = new Promise<void>((ok) => (made = ok));
  p.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    if (stdout.startsWith('veth\n')) made();
  });
  p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  p.stdin.on('error', () => undefined); // it may have exited already (the veth could not be made)
  const exited = new Promise<Run>((resolve) => {
    p.on('error', (e) => resolve({ code: 127, stdout: '', stderr: `cannot run sh: ${e.message}` }));
    p.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr: stderr.trim() }));
  });
  const ready = Promise.race([saidVeth, exited.then((r) => {
    if (stdout.startsWith('veth\n')) return;
    if (/File exists/.test(r.stderr)) throw cniError(Code.generic, `an interface named ${v.ifname} already exists in ${v.netns}`, r.stderr);
    throw cniError(Code.generic, `creating the veth pair failed: ${r.stderr || `exit ${r.code}`}`);
  })]);
  ready.catch(() => undefined); // awaited by the caller; never an unhandled rejection if it is not
  return {
    ready,
    async configure(podIp) {
      if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(podIp) || /\s/.test(v.ifname)) throw cniError(Code.generic, `configuring ${v.ifname}: bad address '${podIp}'`);
      p.stdin.end(`${v.ifname} ${podIp}\n`);
      await ready; // its own error, should the veth not have been made
      const r = await exited;
      const routeFailed = r.stderr.includes('romana-cni: route-failed');
      if (routeFailed) throw cniError(Code.generic, `routing the pod address failed: ${r.stderr.replace('romana-cni: route-failed', '').trim()}`);
      check(r, `configuring ${v.ifname} in ${v.netns}`);
      const out = r.stdout.slice('veth\n'.length);
      const missing = podSideProblems(out, v.ifname, podIp);
      if (missing.length) throw cniError(Code.generic, `configuring ${v.ifname} in ${v.netns} failed: ${missing.join(', ')}`, r.stderr || out);
    },
    close() {
      if (!p.stdin.writableEnded) p.stdin.end();
    },
    exited,
  };
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
  for (const [path, value] of HOST_SYSCTLS) writeFileSync(path(hostVeth), value);
}
// A pod's traffic to itself comes back out of the interface it came in by (see hairpin): no redirects.
const HOST_SYSCTLS: [(dev: string) => string, string][] = [
  [(d) => `/proc/sys/net/ipv4/conf/${d}/proxy_arp`, '1'],
  [(d) => `/proc/sys/net/ipv4/neigh/${d}/proxy_delay`, '0'],
  [(d) => `/proc/sys/net/ipv4/conf/${d}/forwarding`, '1'],
  [(d) => `/proc/sys/net/ipv4/conf/${d}/send_redirects`, '0'],
];

/**
 * The pod side: lo up, the /32, the interface up, the gateway as a link route, the default route, and
 * the hairpin below, all in ONE process inside the pod's namespace. The process is started before the
 * address is known (`podShell`), so its start-up overlaps the allocation; the interface name and the
 * address reach it on stdin, never through the script's text.
 *
 * Hairpin: a pod's connections to its own address leave through the host and come back, so the host
 * firewall judges them like any other (NetworkPolicy applies to a pod talking to itself by its IP). The
 * local table moves after a rule that sends locally generated traffic for the pod's own IP to the
 * gateway; `accept_local` lets the returning packet, whose source is local, in. Re-running it changes
 * nothing (duplicate or missing rules are ignored with -force, then the rules are checked).
 */
export const HAIRPIN_TABLE = 82;
// One `ip` process does it all: -force, because a retried ADD finds the rules made already, so every
// line's effect is checked from the `show` output at the end (stderr names what failed). In batch
// mode `addr show` must come before `link show` (after it, it prints links).
const POD_SCRIPT = `read -r IF IP || exit 3
echo 1 > "/proc/sys/net/ipv4/conf/$IF/accept_local"
ip -o -force -batch - <<EOF || true
link set lo up
addr replace $IP/32 dev $IF
link set $IF up
route replace ${GATEWAY} dev $IF scope link
route replace default via ${GATEWAY} dev $IF
route replace default via ${GATEWAY} dev $IF onlink table ${HAIRPIN_TABLE}
rule add pref 10 to $IP/32 iif lo lookup ${HAIRPIN_TABLE}
rule add pref 100 lookup local
rule del pref 0 lookup local
addr show dev $IF
link show dev $IF
route show
route show table ${HAIRPIN_TABLE}
rule show
EOF
`;

/** What the pod side lacks after the script, judged from its `show` output (one line per object). */
export function podSideProblems(out: string, ifname: string, ip: string): string[] {
  const lines = out.split('\n');
  const up = (l: string) => {
    const m = /^\d+: ([^:@\s]+)(?:@\S+)?: <([^>]*)>/.exec(l);
    return m !== null && m[1] === ifname && m[2].split(',').includes('UP');
  };
  const want: [string, (l: string) => boolean][] = [
    [`${ip}/32 on ${ifname}`, (l) => l.includes(` inet ${ip}/32 `) && l.includes(` ${ifname} `)],
    [`${ifname} up`, up],
    [`route to ${GATEWAY}`, (l) => l.startsWith(`${GATEWAY} dev ${ifname} scope link`)],
    [`default route via ${GATEWAY}`, (l) => l.startsWith(`default via ${GATEWAY} dev ${ifname}`) && !l.includes(' onlink')],
    [`default route via ${GATEWAY} in table ${HAIRPIN_TABLE}`, (l) => l.startsWith(`default via ${GATEWAY} dev ${ifname} onlink`)],
    [`hairpin rule for ${ip}`, (l) => l.includes(`to ${ip} iif lo lookup ${HAIRPIN_TABLE}`)],
    ['local table at priority 100', (l) => /^100:\s+from all lookup local\b/.test(l)],
  ];
  const missing = want.filter(([, ok]) => !lines.some(ok)).map(([what]) => `no ${what}`);
  if (lines.some((l) => /^0:\s/.test(l))) missing.push('the local table still at priority 0');
  return missing;
}

export interface PodShell {
  /** Configures `ifname` with `podIp` (the interface must be in the pod already). */
  configure(ifname: string, podIp: string): Promise<void>;
  /** Ends the process if `configure` was never called (it then exits without changing anything). */
  close(): void;
}

export function podShell(netns: string): PodShell {
  const p = spawn((NSENTER ??= which('nsenter')), [`--net=${netns}`, 'sh', '-ec', POD_SCRIPT, 'romana-cni'], {
    stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/sbin:/usr/bin:/bin' },
  });
  let stdout = '';
  let stderr = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  p.stdin.on('error', () => undefined); // it may have exited already (no such namespace)
  const done = new Promise<Run>((resolve) => {
    p.on('error', (e) => resolve({ code: 127, stdout: '', stderr: `cannot run nsenter: ${e.message}` }));
    p.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr: stderr.trim() }));
  });
  return {
    async configure(ifname, podIp) {
      if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(podIp) || /\s/.test(ifname)) throw cniError(Code.generic, `configuring ${ifname}: bad address '${podIp}'`);
      p.stdin.end(`${ifname} ${podIp}\n`);
      const r = await done;
      check(r, `configuring ${ifname} in ${netns}`);
      const missing = podSideProblems(r.stdout, ifname, podIp);
      if (missing.length) throw cniError(Code.generic, `configuring ${ifname} in ${netns} failed: ${missing.join(', ')}`, r.stderr || r.stdout);
    },
    close() {
      if (!p.stdin.writableEnded) p.stdin.end();
    },
  };
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
