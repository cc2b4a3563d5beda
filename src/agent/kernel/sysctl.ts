// Sysctls as /proc/sys files: they belong to the network namespace of the process that opens them,
// so an agent started with `ip netns exec <host>` configures exactly that host. No `sysctl` process.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const path = (name: string) => `/proc/sys/${name.replace(/\./g, '/')}`;

/** Sets a sysctl (dotted name, e.g. net.ipv4.ip_forward) unless it already has that value; true when written. */
export function ensureSysctl(name: string, value: string): boolean {
  const p = path(name);
  if (readFileSync(p, 'utf8').trim() === value) return false;
  writeFileSync(p, value);
  return true;
}

/** Per-interface sysctl name; interface names may contain dots, which /proc keeps as they are. */
export function ensureInterfaceSysctl(family: 'conf' | 'neigh', ifname: string, key: string, value: string): boolean {
  const p = `/proc/sys/net/ipv4/${family}/${ifname}/${key}`;
  if (readFileSync(p, 'utf8').trim() === value) return false;
  writeFileSync(p, value);
  return true;
}

/** Whether a network interface of this name exists here (free: no process). */
export const interfaceExists = (ifname: string): boolean => existsSync(`/proc/sys/net/ipv4/conf/${ifname}`);
