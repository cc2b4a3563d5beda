// Runs `romana lab ...` as a user would, in a lab of the test's own (unique name and state dir), and
// always takes it down again.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, requireBuilt } from '../helpers/romanad.js';

export function requireRootAndTools(): void {
  if (process.getuid?.() !== 0) throw new Error('the lab tests need root (network namespaces, iptables); run make test as root');
  for (const t of ['ip', 'iptables-restore', 'ipset', 'nft', 'tcpdump', 'curl']) {
    const r = spawnSync('sh', ['-c', `command -v ${t}`]);
    if (r.status !== 0) throw new Error(`the lab tests need '${t}' (make test installs it)`);
  }
  requireBuilt();
}

export class TestLab {
  readonly name = `t${process.pid % 100000}${Math.floor(Math.random() * 1000)}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'romana-lab-test-'));
  readonly env = { ...process.env, ROMANA_LAB_DIR: join(this.dir, 'state') };

  romana(args: string[], input?: string): { code: number | null; out: string; err: string } {
    const r = spawnSync(process.execPath, [BIN('romana'), ...args], { encoding: 'utf8', env: this.env, input, maxBuffer: 64 << 20 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  }

  ok(args: string[], input?: string): string {
    const r = this.romana(args, input);
    assert.equal(r.code, 0, `romana ${args.join(' ')} failed:\n${r.err}\n${r.out}`);
    return r.out;
  }

  lab(verb: string, ...args: string[]): string {
    return this.ok(['lab', verb, '--name', this.name, ...args]);
  }

  state(): { apiUrl: string; adminTokenFile: string; fabric: string; prefix: string; hosts: { name: string; netns: string; ip: string; agentPid: number }[]; pods: { namespace: string; name: string; netns: string; host: string; ip: string }[] } {
    return JSON.parse(readFileSync(join(this.dir, 'state', 'state.json'), 'utf8'));
  }

  api(...args: string[]): string {
    return this.ok(['--api', this.state().apiUrl, '--token-file', this.state().adminTokenFile, ...args]);
  }

  down(): void {
    this.romana(['lab', 'down', '--name', this.name]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function netnsWithPrefix(prefix: string): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return r.stdout.split('\n').map((l) => l.split(' ')[0]).filter((n) => n.startsWith(prefix));
}
