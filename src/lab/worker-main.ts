// The lab's pod servers and probers (src/lab/workers.ts) as a bundle of their own,
// dist/romana-lab-worker.mjs: `romana lab probe` starts one prober per source namespace on every run,
// and starting the whole CLI (commander, yaml, typebox and every command) for that cost four times
// node's own start. Usage (the lab's, not an operator's):
//   serve --ports 80/TCP,53/UDP | probe-from [--bind IP] [--timeout MS] < targets.json
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parsePorts, probeAll, serve } from './workers.js';

const [verb, ...rest] = process.argv.slice(2);
const { values: o } = parseArgs({
  args: rest,
  options: { ports: { type: 'string' }, bind: { type: 'string' }, timeout: { type: 'string', default: '1000' } },
});
const need = (v: string | undefined, flag: string): string => {
  if (v === undefined) {
    process.stderr.write(`romana-lab-worker ${verb}: ${flag} is required\n`);
    process.exit(2);
  }
  return v;
};

if (verb === 'serve') serve(parsePorts(need(o.ports, '--ports')));
else if (verb === 'probe-from') {
  const verdicts = await probeAll(JSON.parse(readFileSync(0, 'utf8')), Number(o.timeout), o.bind);
  process.stdout.write(JSON.stringify(verdicts) + '\n');
} else {
  process.stderr.write(`romana-lab-worker: unknown verb '${verb ?? ''}' (serve or probe-from)\n`);
  process.exit(2);
}
