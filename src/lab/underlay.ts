// The lab's underlays other than the default one (one fabric bridge with static routes to the pods):
// racks with BGP, and a VPC with route tables. lab.ts asks the lab's underlay at each step of `up`.
import type { ApiClient } from '../cli/client.js';
import type { LabState } from './state.js';

export interface Underlay {
  /** Namespaces and links; fills s.hosts (each with the API URL it reaches romanad at). */
  build(s: LabState): void;
  /** Relays to romanad's unix socket, where the hosts can reach them. `self` runs `romana`. */
  relay(s: LabState, socket: string, self: string[]): void;
  /** The topology to post. */
  topology(s: LabState): unknown;
  /** After the topology is in: hosts it does not list, routers, publishers. */
  start(s: LabState, api: ApiClient, self: string[]): void | Promise<void>;
  /** Extra romana-agent flags for a host. */
  agentArgs(s: LabState, host: string): string[];
  /** What the fabric does not route yet as the store says (BGP, the VPC route table); undefined: nothing. */
  converged(s: LabState, api: ApiClient): Promise<string | undefined>;
  /** Processes to stop before the namespaces go (supervisors first, so nothing restarts). */
  pids(s: LabState): number[];
}
