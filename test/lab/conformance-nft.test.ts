// The public NetworkPolicy cases in the lab with every agent on the nftables backend (`romana lab up --dataplane nftables`).
import { runNetpolCases } from './netpol-runner.js';

runNetpolCases('lab probe agrees with simulate on the public NetworkPolicy cases (nftables)', {}, undefined, 'nftables');
