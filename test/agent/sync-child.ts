// Runs one of the agent's managers inside the caller's network namespace (the kernel tests start it
// with `ip netns exec`): reads {kind, ...} as JSON on stdin, prints the results as JSON. `runs` syncs
// the same desired state that many times in one process (the firewall manager's memory of kernel
// renderings lives in the process).
import { readFileSync } from 'node:fs';
import { type DataplaneKind, firewallBackend } from '../../src/agent/backends.js';
import { NftFirewallManager } from '../../src/agent/nftables.js';
import type { IrHost } from '../../src/core/policy/ir.js';
import type { CompiledHost } from '../../src/core/policy/render-iptables.js';
import { renderNft, type NftHost } from '../../src/core/policy/render-nft.js';
import type { DesiredRoutes } from '../../src/agent/desired.js';
import { type FirewallDesired, FirewallManager } from '../../src/agent/firewall.js';
import { HostManager } from '../../src/agent/host.js';
import { RouteManager } from '../../src/agent/routes.js';

type Input =
  | { kind: 'routes'; desired: DesiredRoutes; runs?: number }
  | { kind: 'firewall'; desired: FirewallDesired; runs?: number; then?: { desired: FirewallDesired; reread: boolean }[] }
  | { kind: 'host'; interfaces: string[]; gateway?: string; runs?: number }
  | { kind: 'nft'; ir: IrHost; runs?: number; then?: { ir: IrHost; reread: boolean }[] }
  /** A hand-made table (counterPolicies as entries). */
  | { kind: 'nft-host'; host: Omit<NftHost, 'counterPolicies'> & { counterPolicies: [string, { id: string; direction: 'ingress' | 'egress' }][] }; runs?: number }
  /** A backend's sync of a compiled host, then its removal of the other backend's state. */
  | { kind: 'backend'; backend: DataplaneKind; compiled: CompiledHost };

const input = JSON.parse(readFileSync(0, 'utf8')) as Input;
const out: unknown[] = [];
const routes = new RouteManager();
const firewall = new FirewallManager();
const nft = new NftFirewallManager();
if (input.kind === 'backend') {
  const b = firewallBackend(input.backend);
  out.push(await b.sync(input.compiled), await b.removeOther(), await b.policyCounters());
}
for (let i = 0; i < (input.kind === 'backend' ? 0 : input.runs ?? 1); i++) {
  if (input.kind === 'routes') out.push(await routes.sync(input.desired));
  else if (input.kind === 'firewall') out.push(await firewall.sync(input.desired));
  else if (input.kind === 'nft') out.push(await nft.sync(renderNft(input.ir)));
  else if (input.kind === 'nft-host') out.push(await nft.sync({ ...input.host, counterPolicies: new Map(input.host.counterPolicies) }));
  else if (input.kind === 'host') out.push(await new HostManager(input.gateway).sync(input.interfaces));
}
if (input.kind === 'firewall') for (const step of input.then ?? []) out.push(await firewall.sync(step.desired, { reread: step.reread }));
if (input.kind === 'nft') for (const step of input.then ?? []) out.push(await nft.sync(renderNft(step.ir), { reread: step.reread }));
process.stdout.write(JSON.stringify(out));
