// Prometheus metrics of one agent (prom-client, a private registry).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PolicyCounter } from './backends.js';

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly r = [this.registry];
  readonly reconcileDuration = new Histogram({
    name: 'romana_agent_reconcile_duration_seconds', help: 'Time to compute the desired state and sync the dataplane',
    labelNames: ['trigger'] as const, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: this.r,
  });
  readonly reconciles = new Counter({ name: 'romana_agent_reconciles_total', help: 'Dataplane syncs', labelNames: ['trigger', 'result'] as const, registers: this.r });
  readonly errors = new Counter({ name: 'romana_agent_errors_total', help: 'Errors, by where they happened', labelNames: ['stage'] as const, registers: this.r });
  readonly driftRepairs = new Counter({ name: 'romana_agent_drift_repairs_total', help: 'Periodic checks that found the kernel changed behind the agent and repaired it', registers: this.r });
  readonly rules = new Gauge({ name: 'romana_agent_rules_programmed', help: 'iptables rules of the agent in the kernel (ROMANA chains and hooks)', registers: this.r });
  readonly chains = new Gauge({ name: 'romana_agent_chains_programmed', help: 'ROMANA chains in the filter table', registers: this.r });
  readonly setEntries = new Gauge({ name: 'romana_agent_set_entries_programmed', help: 'Entries in the agent\'s ipsets', registers: this.r });
  readonly sets = new Gauge({ name: 'romana_agent_sets_programmed', help: 'ROMANA ipsets', registers: this.r });
  readonly routes = new Gauge({ name: 'romana_agent_routes_programmed', help: 'Routes of the agent (its table and protocol)', registers: this.r });
  readonly endpoints = new Gauge({ name: 'romana_agent_local_endpoints', help: 'Endpoints on this host', registers: this.r });
  readonly revision = new Gauge({ name: 'romana_agent_last_applied_revision', help: 'Store revision whose desired state was last applied without error', registers: this.r });
  readonly storeConnected = new Gauge({ name: 'romana_agent_store_connected', help: '1 while the agent watches the store', registers: this.r });

  /** Where the per-policy counters come from (the dataplane's firewall backend); read at each scrape. */
  policySource?: () => Promise<PolicyCounter[]>;
  private policyRead?: Promise<PolicyCounter[]>;
  readonly policyPackets: Gauge<'policy' | 'direction'>;
  readonly policyBytes: Gauge<'policy' | 'direction'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'romana_agent_' });
    // One read of the kernel's counters serves both gauges of a scrape.
    const read = () => {
      if (!this.policyRead) {
        this.policyRead = (this.policySource?.() ?? Promise.resolve([])).finally(() => setTimeout(() => (this.policyRead = undefined), 500));
      }
      return this.policyRead;
    };
    const fill = (key: 'packets' | 'bytes') => async function (this: Gauge<'policy' | 'direction'>) {
      const rows = await read().catch(() => []);
      this.reset();
      for (const r of rows) this.set({ policy: r.policy, direction: r.direction }, r[key]);
    };
    const help = 'allowed by this policy on this host (iptables: since its chain was last written; nftables: since the policy came to this host)';
    this.policyPackets = new Gauge({ name: 'romana_agent_policy_packets', help: `Packets ${help}`, labelNames: ['policy', 'direction'] as const, registers: this.r, collect: fill('packets') });
    this.policyBytes = new Gauge({ name: 'romana_agent_policy_bytes', help: `Bytes ${help}`, labelNames: ['policy', 'direction'] as const, registers: this.r, collect: fill('bytes') });
  }
}
