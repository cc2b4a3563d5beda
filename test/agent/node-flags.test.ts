// The V8 flags and malloc setting romana-agent needs (src/agent/node-flags.ts) are given wherever it is started, and the
// running agent has them: bin/romana-agent executed as an operator runs it, the Kubernetes DaemonSet.
// (`romana lab` and the benchmarks spread AGENT_NODE_FLAGS into their command lines.) The agent here
// reaches no store, so it never lists and never touches the kernel.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import YAML from 'yaml';
import { AGENT_ENV, AGENT_NODE_FLAGS, missingNodeFlags } from '../../src/agent/node-flags.js';
import { ROOT, requireBuilt } from './helpers.js';

describe('romana-agent node flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agent-flags-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('bin/romana-agent starts node with them, and the running agent has them', async () => {
    requireBuilt();
    assert.equal(readFileSync(join(ROOT, 'bin/romana-agent'), 'utf8').split('\n')[0], `#!/usr/bin/env -S ${Object.entries(AGENT_ENV).map(([k, v]) => `${k}=${v} `).join('')}node ${AGENT_NODE_FLAGS.join(' ')}`);
    // Executed directly, as an operator (or npm's bin link) does: the first line is what starts node.
    const p = spawn(join(ROOT, 'bin/romana-agent'), ['--host', 'flags', '--api', 'http://127.0.0.1:1', '--listen', '127.0.0.1', '--port', '0', '--gateway', 'none', '--cni-state-dir', dir, '--log-level', 'info'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const lines: Record<string, unknown>[] = [];
      const ready = await new Promise<Record<string, unknown>>((ok, fail) => {
        let buf = '';
        p.stdout!.setEncoding('utf8').on('data', (d: string) => {
          buf += d;
          for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
            const l = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
            buf = buf.slice(i + 1);
            lines.push(l);
            if (l.msg === 'romana-agent ready') ok(l);
          }
        });
        p.once('exit', (code) => fail(new Error(`romana-agent exited ${code} before it was ready`)));
        setTimeout(() => fail(new Error('romana-agent was not ready in 10 s')), 10_000).unref();
      });
      assert.deepEqual(ready.nodeFlags, [...AGENT_NODE_FLAGS]);
      const cmdline = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0');
      for (const f of AGENT_NODE_FLAGS) assert.ok(cmdline.includes(f), `the agent's command line lacks ${f}: ${cmdline.join(' ')}`);
      const environ = readFileSync(`/proc/${p.pid}/environ`, 'utf8').split('\0');
      for (const [k, v] of Object.entries(AGENT_ENV)) assert.ok(environ.includes(`${k}=${v}`), `the agent's environment lacks ${k}=${v}`);
      assert.ok(!lines.some((l) => String(l.msg).startsWith('started without')), 'the agent warned that flags are missing');
    } finally {
      p.kill('SIGTERM');
    }
  });

  it('the Kubernetes DaemonSet starts node with them', () => {
    const docs = YAML.parseAllDocuments(readFileSync(join(ROOT, 'deploy/kubernetes/agent.yaml'), 'utf8')).map((d) => d.toJS());
    const ds = docs.find((d) => d?.kind === 'DaemonSet');
    const agent = ds.spec.template.spec.containers.find((c: { name: string }) => c.name === 'agent');
    assert.deepEqual(agent.command, ['node', ...AGENT_NODE_FLAGS, '/opt/romana/bin/romana-agent']);
    for (const [name, value] of Object.entries(AGENT_ENV)) assert.ok(agent.env.some((e: { name: string; value?: string }) => e.name === name && e.value === value), `the agent container lacks ${name}=${value}`);
  });

  it('an agent started without them says which are missing', () => {
    assert.deepEqual(missingNodeFlags([], {}), [...AGENT_NODE_FLAGS, 'MALLOC_ARENA_MAX=2', 'MALLOC_MMAP_THRESHOLD_=131072']);
    assert.deepEqual(missingNodeFlags([...AGENT_NODE_FLAGS, '--inspect'], { ...AGENT_ENV }), []);
  });
});
