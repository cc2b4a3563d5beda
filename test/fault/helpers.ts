// What the fault tests look at on a host: the agent's /status and the whole dataplane it owns.
import assert from 'node:assert/strict';
import { shAsync } from '../agent/helpers.js';

export interface AgentStatus {
  store_connected: boolean;
  store_revision: number;
  last_applied_revision: number;
  last_error: string | null;
  routes: number;
  rules: number;
}

/** The agent's /status, read inside its host namespace (so it answers even when the host is cut off). */
export async function agentStatus(netns: string): Promise<AgentStatus> {
  const r = await shAsync('ip', ['netns', 'exec', netns, 'curl', '-sf', '-m', '2', 'http://127.0.0.1:9604/status']);
  if (r.code !== 0) throw new Error(`agent status in ${netns}: curl exit ${r.code}`);
  return JSON.parse(r.stdout) as AgentStatus;
}

/**
 * A host's dataplane as text: every IPv4 routing table, every ipset, and the iptables lines of our chains
 * without counters. ` linkdown` is the kernel's note on a route whose device lost carrier, not a change.
 */
export async function dataplane(netns: string): Promise<string> {
  const [routes, sets, ipt] = await Promise.all([
    shAsync('ip', ['-4', '-n', netns, 'route', 'show', 'table', 'all']), // IPv6 link-locals come and go with the kernel's DAD
    shAsync('ip', ['netns', 'exec', netns, 'ipset', 'save']),
    shAsync('ip', ['netns', 'exec', netns, 'iptables-save']),
  ]);
  for (const r of [routes, sets, ipt]) assert.equal(r.code, 0, r.stderr);
  const rules = ipt.stdout.split('\n').filter((l) => l.includes('ROMANA')).map((l) => l.replace(/\s*\[\d+:\d+\]/g, ''));
  assert.ok(rules.length > 0 && / proto 82 /.test(routes.stdout), `${netns}: the agent has programmed nothing yet`);
  return [routes.stdout.replace(/ linkdown/g, ''), sets.stdout, rules.join('\n')].join('\n----\n');
}
