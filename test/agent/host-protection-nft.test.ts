// host-protection.test.ts, run on the nftables backend (the same connections and verdicts; see dataplane-view.ts).
process.env.ROMANA_TEST_DATAPLANE = 'nftables';
await import('./host-protection.test.js');
