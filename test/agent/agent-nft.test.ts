// agent.test.ts, run on the nftables backend (the same steps and checks; see dataplane-view.ts).
process.env.ROMANA_TEST_DATAPLANE = 'nftables';
await import('./agent.test.js');
