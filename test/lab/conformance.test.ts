// The public NetworkPolicy cases in the lab on its default network (blocks carved from groups).
import { runNetpolCases } from './netpol-runner.js';

runNetpolCases('lab probe agrees with simulate on the public NetworkPolicy cases');
