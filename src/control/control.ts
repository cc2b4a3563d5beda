// romanad's control layer: everything the API can ask, on top of one store.
import type { Store } from '../store/store.js';
import { Ipam } from './ipam.js';
import { Metadata } from './metadata.js';
import { Policies } from './policies.js';
import { ControlState } from './state.js';
import { Topology } from './topology.js';

export class Control {
  readonly state: ControlState;
  readonly topology: Topology;
  readonly ipam: Ipam;
  readonly policies: Policies;
  readonly metadata: Metadata;
  constructor(readonly store: Store) {
    this.state = new ControlState(store);
    this.topology = new Topology(this.state);
    this.ipam = new Ipam(this.state);
    this.policies = new Policies(this.state);
    this.metadata = new Metadata(this.state);
  }
  removeHost(name: string, force: boolean) {
    return this.topology.removeHost(name, force, this.ipam);
  }
}
