// The public NetworkPolicy cases in the lab with every agent on the nftables backend (`romana lab up --dataplane nftables`). See netpol-cases.ts.
import { THROUGH_ROMANAD, netpolConformance } from './netpol-cases.js';

netpolConformance('lab probe agrees with simulate on the public NetworkPolicy cases (nftables)', THROUGH_ROMANAD, { dataplane: 'nftables' });
