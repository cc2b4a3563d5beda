// The V8 flags (and malloc setting) romana-agent runs with, wherever it is started: bin/romana-agent's first line,
// deploy/kubernetes/agent.yaml, `romana lab` and the benchmarks (test/agent/node-flags.test.ts checks
// each, and the running agent). Measured in bench/memory (docs/benchmarks.md, "Memory"):
// - --max-semi-space-size=1: V8's young generation is two semi-spaces, each allowed to grow to 16 MiB
//   on 64-bit Node 20 (with the third copy it reserves, up to 48 MiB of RSS). The agent's garbage is
//   short-lived (each desired-state computation); 1 MiB semi-spaces cost no measurable time here.
// - --heap-growing-percent=20: after each full collection V8 lets the old generation grow to a factor
//   of what survived, up to 4× by default; here to 1.2× plus its minimum step. A factor, not a limit:
//   a big cluster's agent gets the heap it needs (there is no --max-old-space-size to crash it), it
//   only collects sooner.
// Not --optimize-for-size: 9 MiB less heap at scale, but it doubled the desired-state time of a
// one-policy update (bench/dataplane, docs/benchmarks.md "Memory").
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--heap-growing-percent=20'];

/**
 * And its environment (glibc's malloc):
 * - MALLOC_ARENA_MAX=2: glibc gives each thread that allocates (V8's compiler and GC helpers, libuv's
 *   pool) an arena of its own, up to 8 per core, and keeps what was freed in each; at scale that was
 *   12 MiB of the agent's RSS. Two arenas serve its few threads.
 * - MALLOC_MMAP_THRESHOLD_=131072: blocks from 128 KiB up (a child's output, such as iptables-save of
 *   10,000 rules) are mapped and given back when freed. By default glibc raises this threshold after
 *   the first such free, and later big blocks stay in the heap: 6 MiB more at scale.
 */
export const AGENT_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' };

/** The flags and variables above that this process was not started with (logged at start: memory grows without them). */
export const missingNodeFlags = (execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env): string[] => [
  ...AGENT_NODE_FLAGS.filter((f) => !execArgv.includes(f)),
  ...Object.entries(AGENT_ENV).filter(([k, v]) => env[k] !== v).map(([k, v]) => `${k}=${v}`),
];
