// `make test`'s runner: node's test runner (spec reporter) over the given files, two at a time, the
// longest first. `node --test` sorts the files it is given, which ran the lab's NetworkPolicy files (the
// longest by far) side by side in the middle of the run and left one slot with a long file at the end;
// started first, they run beside the short files, which fill the other slot. Files matching none of
// SLOW keep the order given. Exits 1 when any test fails.
// Usage: node --import tsx scripts/run-tests.mjs [--concurrency N] FILE...
import { run } from 'node:test';
import { spec } from 'node:test/reporters';

// Longest first, as measured alone by scripts/test-times.mjs (a rough order is all that matters).
const SLOW = [
  /^test\/lab\/(kubernetes|conformance)/,
  /^test\/(fault|openstack|ui)\/|^test\/cli\/cli\./,
  /^test\/(agent|conformance|lab|listener|cni)\//,
];

const args = process.argv.slice(2);
const at = args.indexOf('--concurrency');
const concurrency = at >= 0 ? Number(args.splice(at, 2)[1]) : 2;
const rank = (f) => {
  const i = SLOW.findIndex((re) => re.test(f));
  return i < 0 ? SLOW.length : i;
};
const files = args.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map((x) => x.f);

const stream = run({ files, concurrency });
stream.on('test:fail', () => { process.exitCode = 1; });
stream.compose(new spec()).pipe(process.stdout);
