// Rows of the dataplane benchmark for the agent as it runs: a store event goes into the agent's
// DesiredTracker (incremental cluster model and compiler), the firewall diffs against its last sync and
// restores what changed. Timed from the event to the kernel updated, as the reconciler does it.
import { DesiredTracker } from '../../src/agent/desired.js';
import { FirewallManager } from '../../src/agent/firewall.js';
import { addressKey, podKey, policyKey } from '../../src/control/keys.js';

type Add = (k: string, v: number) => void;
const J = JSON.stringify;

/** A pod of ns7 on this host. */
function pod(i: number, app: string): [string, string][] {
  const name = `ns7-h-${app}${i}`;
  return [
    [addressKey(name), J({ name, ip: `10.250.${app === 'zz' ? 1 : 2}.${i + 1}`, host: 'h', tenant: 'ns7', segment: 'default', network: 'pods', block: '', attributes: { pod: name, namespace: 'ns7', host_ifname: `rmn${app}${i}` } })],
    [podKey('ns7', name), J({ namespace: 'ns7', name, labels: { app }, ports: [] })],
  ];
}

export async function incrementalRows(snap: Map<string, string>, changedPolicy: [string, string], add: Add, clean: () => void, rep: number): Promise<void> {
  clean();
  const tracker = new DesiredTracker('h');
  let t = performance.now();
  tracker.reset(snap);
  let d = tracker.state();
  add('tracker: desired state from the store keys, cold', performance.now() - t);
  const fw = new FirewallManager();
  const r0 = await fw.sync(d.firewall!.tables);
  if (r0.errors.length) throw new Error(r0.errors.join('; '));
  await fw.settled();

  // One policy changed and back, twice, from the event to the kernel updated. The events come back to
  // back: each sync starts as soon as the one before returned.
  const [key, value] = changedPolicy;
  const original = snap.get(key)!;
  for (const v of [value, original, value, original]) {
    t = performance.now();
    tracker.set(key, v);
    d = tracker.state();
    const tc = performance.now() - t;
    const r = await fw.sync(d.firewall!.tables, { reread: false });
    const total = performance.now() - t;
    if (r.errors.length || r.counts.changedChains !== 1 || r.counts.newSets || r.counts.swappedSets) throw new Error(`one-policy update: ${J(r.counts)} ${r.errors}`);
    add('agent: one policy changed, store event → kernel updated (incremental)', total);
    add('of which the desired state (incremental)', tc);
  }

  // A pod added, then removed: only set memberships and its route change. A pod that policies select
  // also gets (and loses) its dispatch rule, in the one dispatch chain.
  for (const [app, label, chains] of [['zz', 'no policy selects it', 0], ['a1', 'selected by policies', 1]] as const) {
    const routesBefore = d.routes;
    const keys = pod(rep, app);
    for (const step of ['added', 'removed'] as const) {
      t = performance.now();
      for (const [k, v] of keys) step === 'added' ? tracker.set(k, v) : tracker.delete(k);
      d = tracker.state();
      const r = await fw.sync(d.firewall!.tables, { reread: false });
      add(`agent: pod ${step} (${label}), store event → kernel updated`, performance.now() - t);
      if (r.errors.length || r.counts.changedChains !== chains || r.counts.newSets || !r.counts.swappedSets) throw new Error(`pod ${step}: ${J(r.counts)} ${r.errors}`);
      if (d.routes.remote !== routesBefore.remote || d.routes.local.length !== routesBefore.local.length + (step === 'added' ? 1 : 0)) throw new Error(`pod ${step}: routes other than its own changed`);
    }
  }
}
