// Fail-safe ports: host ports that no Romana host policy (applied_to {peer: host}) can close, so that an
// operator cannot lock themselves out of a host, nor a policy cut the agent off from romanad or etcd.
// Calico's felix has the same idea (FailsafeInboundHostPorts / FailsafeOutboundHostPorts). Pure.
import { invalid } from '../errors.js';
import type { L4Protocol } from './model.js';

/** One destination port, or an inclusive range, of one protocol. */
export interface FailsafePort { protocol: L4Protocol; port: number; endPort?: number }

export interface Failsafe {
  /** Destination ports on this host that stay reachable whatever the host's ingress policies say. */
  inbound: FailsafePort[];
  /** Destination ports this host can always connect out to, whatever its egress policies say. */
  outbound: FailsafePort[];
}

// Inbound: ssh, romanad's API, the agent's /healthz /status /metrics, etcd client and peer.
// Outbound: DNS (udp, and tcp for large answers), DHCP requests (renewals go through the normal IP stack),
// romanad's API and etcd, the two things the agent needs to learn that a policy should be lifted.
export const DEFAULT_FAILSAFE_INBOUND = '22/tcp,9600/tcp,9604/tcp,2379-2380/tcp';
export const DEFAULT_FAILSAFE_OUTBOUND = '53/udp,53/tcp,67/udp,9600/tcp,2379-2380/tcp';

/**
 * Parses "22/tcp,9600/tcp,2379-2380/tcp" (PORT or PORT-END, then /tcp, /udp or /sctp, tcp if absent);
 * "none" or "" is the empty list. Errors name `what` (the flag or field), e.g. "--failsafe-inbound".
 */
export function parseFailsafePorts(text: string, what: string): FailsafePort[] {
  const s = text.trim();
  if (s === '' || s.toLowerCase() === 'none') return [];
  return s.split(',').map((raw) => {
    const item = raw.trim();
    if (item === '') throw invalid(`${what}: '${text}' has an empty entry (give PORT[-END]/PROTO,... or 'none')`);
    const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/([A-Za-z]+))?$/.exec(item);
    if (!m) throw invalid(`${what}: '${item}' is not PORT[-END]/PROTO (e.g. 22/tcp or 2379-2380/tcp), or 'none'`);
    const protocol = (m[3] ?? 'tcp').toUpperCase();
    if (!['TCP', 'UDP', 'SCTP'].includes(protocol)) throw invalid(`${what}: '${item}': the protocol must be tcp, udp or sctp, got '${m[3]}'`);
    const p = { protocol: protocol as L4Protocol, port: Number(m[1]), ...(m[2] !== undefined ? { endPort: Number(m[2]) } : {}) };
    return checkFailsafePort(p, `${what}: '${item}'`);
  });
}

/** Validates one entry given as data (CompileOptions); returns it without a redundant endPort. */
export function checkFailsafePort(p: FailsafePort, what: string): FailsafePort {
  if (!['TCP', 'UDP', 'SCTP'].includes(p?.protocol)) throw invalid(`${what}: the protocol must be TCP, UDP or SCTP`);
  const ok = (n: unknown) => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535;
  if (!ok(p.port)) throw invalid(`${what}: port ${String(p.port)} is not from 1 to 65535`);
  if (p.endPort === undefined || p.endPort === p.port) return { protocol: p.protocol, port: p.port };
  if (!ok(p.endPort)) throw invalid(`${what}: port ${String(p.endPort)} is not from 1 to 65535`);
  if (p.endPort < p.port) throw invalid(`${what}: the range ends (${p.endPort}) before it starts (${p.port})`);
  return { protocol: p.protocol, port: p.port, endPort: p.endPort };
}

export const DEFAULT_FAILSAFE: Readonly<Failsafe> = Object.freeze({
  inbound: parseFailsafePorts(DEFAULT_FAILSAFE_INBOUND, 'default inbound fail-safe ports'),
  outbound: parseFailsafePorts(DEFAULT_FAILSAFE_OUTBOUND, 'default outbound fail-safe ports'),
});

export const formatFailsafePorts = (ps: FailsafePort[]): string =>
  ps.length === 0 ? 'none' : ps.map((p) => `${p.endPort !== undefined ? `${p.port}-${p.endPort}` : p.port}/${p.protocol.toLowerCase()}`).join(',');

