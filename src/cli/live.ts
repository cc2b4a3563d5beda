// `policy simulate --live`: romanad simulates over its current state (POST /policies/simulate builds the
// cluster as the agents do: the same endpoints, labels and policies they compile), so nothing is
// exported first and the answer is what the hosts enforce.
import { Type } from '@sinclair/typebox';
import type { Probe, ProbeResult } from '../core/policy/evaluate.js';
import type { ApiClient } from './client.js';

const Answer = Type.Object({
  results: Type.Array(Type.Object({ from: Type.String(), to: Type.String(), port: Type.Integer(), protocol: Type.String(), allowed: Type.Boolean() })),
  problems: Type.Array(Type.String()),
});

/** The verdicts; store records romanad had to leave out are named on stderr. */
export async function simulateLive(client: ApiClient, probes: Probe[] | undefined, segmentLabel: string): Promise<ProbeResult[]> {
  const r = await client.request<{ results: ProbeResult[]; problems: string[] }>('POST', '/policies/simulate',
    { ...(probes ? { probes } : {}), segment_label: segmentLabel }, { answer: Answer, idempotent: true });
  for (const p of r.problems) process.stderr.write(`romana: left out of the simulation: ${p}\n`);
  return r.results;
}
