// Runs one of the agent's managers inside the caller's network namespace (the kernel tests start it
// with `ip netns exec`): reads {kind, ...} as JSON on stdin, prints the results as JSON. `runs` syncs
// the same desired state that many times in one process (the firewall manager's memory of kernel
// renderings lives in the process).
import { readFileSync } from 'node:fs';
import type { DesiredRoutes } from '../../src/agent/desired.js';
import { type FirewallDesired, FirewallManager } from '../../src/agent/firewall.js';
import { HostManager } from '../../src/agent/host.js';
import { RouteManager } from '../../src/agent/routes.js';

type Input =
  | { kind: 'routes'; desired: DesiredRoutes; runs?: number }
  | { kind: 'firewall'; desired: FirewallDesired; runs?: number; then?: { desired: FirewallDesired; reread: boolean }[] }
  | { kind: 'host'; interfaces: string[]; gateway?: string; runs?: number };

const input = JSON.parse(readFileSync(0, 'utf8')) as Input;
const out: unknown[] = [];
const routes = new RouteManager();
const firewall = new FirewallManager();
for (let i = 0; i < (input.runs ?? 1); i++) {
  if (input.kind === 'routes') out.push(await routes.sync(input.desired));
  else if (input.kind === 'firewall') out.push(await firewall.sync(input.desired));
  else out.push(await new HostManager(input.gateway).sync(input.interfaces));
}
if (input.kind === 'firewall') for (const step of input.then ?? []) out.push(await firewall.sync(step.desired, { reread: step.reread }));
process.stdout.write(JSON.stringify(out));
