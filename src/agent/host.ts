// Host settings the routed dataplane needs: forwarding, and on each pod interface proxy ARP with
// proxy_delay=0 (else every ARP answer waits up to 0.8 s). The pods' gateway (169.254.1.1 by default,
// what romana-cni gives pods as their default route) is put on `lo` as a scope-link /32: the host then
// answers ARP for it on every pod interface even without a default route (proxy ARP alone answers
// only when the host has some route to the gateway), and scope link keeps it from ever being chosen
// as a source address.
import { addAddress, listAddresses } from './kernel/ip.js';
import { ensureInterfaceSysctl, ensureSysctl, interfaceExists } from './kernel/sysctl.js';

export interface HostSyncResult { changed: string[]; errors: string[] }

export class HostManager {
  constructor(private readonly gateway: string | undefined) {}

  async sync(interfaces: string[]): Promise<HostSyncResult> {
    const changed: string[] = [];
    const errors: string[] = [];
    const attempt = (what: string, f: () => boolean) => {
      try {
        if (f()) changed.push(what);
      } catch (e) {
        errors.push(`${what}: ${(e as Error).message}`);
      }
    };
    attempt('net.ipv4.ip_forward=1', () => ensureSysctl('net.ipv4.ip_forward', '1'));
    for (const ifname of interfaces) {
      if (!interfaceExists(ifname)) continue; // not there yet (or gone): the route manager reports it
      attempt(`${ifname} proxy_arp=1`, () => ensureInterfaceSysctl('conf', ifname, 'proxy_arp', '1'));
      attempt(`${ifname} proxy_delay=0`, () => ensureInterfaceSysctl('neigh', ifname, 'proxy_delay', '0'));
    }
    if (this.gateway) {
      try {
        if (!(await listAddresses('lo')).includes(`${this.gateway}/32`)) {
          await addAddress(`${this.gateway}/32`, 'lo', 'link');
          changed.push(`gateway ${this.gateway} on lo`);
        }
      } catch (e) {
        errors.push(`gateway ${this.gateway}: ${(e as Error).message}`);
      }
    }
    return { changed, errors };
  }
}
