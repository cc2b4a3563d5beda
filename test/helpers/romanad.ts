// Starts a real romanad process (the built bin/romanad) on a loopback port, on a fresh embedded store
// unless etcd endpoints are given, and stops it (only it) afterwards.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApiClient } from '../../src/cli/client.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = (name: string) => join(ROOT, 'bin', name);

export interface Romanad {
  url: string;
  api: ApiClient;
  proc: ChildProcess;
  dataDir?: string;
  stop(): Promise<void>;
  /** Kills with SIGKILL (fault tests). */
  kill(): Promise<void>;
  logs(): string;
}

export interface RomanadOptions {
  etcdEndpoints?: string;
  etcdPrefix?: string;
  dataDir?: string;
  topologyFile?: string;
  extraArgs?: string[];
  /** Token and CA (PEM) for the returned `api` client, when romanad runs with --auth-file or TLS. */
  token?: string;
  ca?: string;
}

export function requireBuilt(): void {
  if (!existsSync(join(ROOT, 'dist', 'romanad.mjs'))) throw new Error('dist/romanad.mjs is missing: run `node scripts/build.mjs` (make test does)');
}

export async function startRomanad(opts: RomanadOptions = {}): Promise<Romanad> {
  requireBuilt();
  const dataDir = opts.etcdEndpoints ? undefined : (opts.dataDir ?? mkdtempSync(join(tmpdir(), 'romanad-test-')));
  const args = ['--listen', '127.0.0.1', '--port', '0', '--log-level', 'info'];
  if (opts.etcdEndpoints) args.push('--etcd-endpoints', opts.etcdEndpoints, '--etcd-prefix', opts.etcdPrefix ?? '');
  else args.push('--data-dir', dataDir!);
  if (opts.topologyFile) args.push('--topology', opts.topologyFile);
  args.push(...(opts.extraArgs ?? []));
  const proc = spawn(process.execPath, [BIN('romanad'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`romanad did not start in 15 s:\n${out}`)), 15000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes('romanad ready'));
      if (line) {
        clearTimeout(timer);
        ok((JSON.parse(line) as { url: string }).url);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    proc.on('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`romanad exited with ${code}:\n${out}`));
    });
  });
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const finish = async (sig: NodeJS.Signals) => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
    await exited;
    if (dataDir && !opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  return {
    url, api: new ApiClient({ baseUrl: url, token: opts.token, ca: opts.ca }), proc, dataDir, logs: () => out,
    stop: () => finish('SIGTERM'), kill: () => finish('SIGKILL'),
  };
}
