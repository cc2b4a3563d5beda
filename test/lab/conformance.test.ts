// For every public NetworkPolicy case, real connections in the lab agree with `romana policy simulate`
// (policies applied through romanad's API). See netpol-cases.ts.
import { THROUGH_ROMANAD, netpolConformance } from './netpol-cases.js';

netpolConformance('lab probe agrees with simulate on the public NetworkPolicy cases', THROUGH_ROMANAD);
