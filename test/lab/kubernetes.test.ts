// `romana lab up --kubernetes`: the public NetworkPolicy cases applied with kubectl to the lab's
// Kubernetes API server (the test stand-in); romana-listener carries them to romanad, and real
// connections agree with `romana policy simulate` for every case. See netpol-cases.ts.
import { THROUGH_KUBECTL, netpolConformance } from './netpol-cases.js';

netpolConformance('lab --kubernetes: policies through kubectl, probe agrees with simulate', THROUGH_KUBECTL);
