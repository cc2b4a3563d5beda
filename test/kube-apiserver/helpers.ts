// Starts the test stand-in of the Kubernetes API server in-process, writes a kubeconfig for it, and
// runs the real kubectl found on the PATH against it.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeApiServer, type KubeApiServerOptions } from '../../src/testing/kube-apiserver/server.js';

export function requireKubectl(): void {
  const r = spawnSync('sh', ['-c', 'command -v kubectl']);
  if (r.status !== 0) throw new Error("these tests need 'kubectl' on the PATH (make test installs Debian's kubernetes-client)");
}

export function writeKubeconfig(file: string, server: string, token = 'unused-token', namespace = 'default'): void {
  writeFileSync(file, [
    'apiVersion: v1', 'kind: Config',
    // Plain HTTP on loopback: the client must be told not to expect TLS (client-node refuses http:// otherwise).
    `clusters: [{name: stand-in, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]`,
    `users: [{name: user, user: {token: "${token}"}}]`,
    `contexts: [{name: stand-in, context: {cluster: stand-in, user: user, namespace: ${namespace}}}]`,
    'current-context: stand-in', '',
  ].join('\n'), { mode: 0o600 });
}

export class StandIn {
  readonly dir = mkdtempSync(join(tmpdir(), 'kube-standin-'));
  readonly kubeconfig = join(this.dir, 'kubeconfig');
  readonly server: KubeApiServer;
  url = '';

  constructor(opts: KubeApiServerOptions = {}) {
    this.server = new KubeApiServer(opts);
  }

  async start(token?: string): Promise<this> {
    this.url = await this.server.listen(0);
    writeKubeconfig(this.kubeconfig, this.url, token);
    return this;
  }

  /** kubectl, asynchronously (the server runs in this process, so a synchronous spawn would starve it). */
  kubectl(args: string[], input?: string): Promise<{ code: number | null; out: string; err: string }> {
    return new Promise((ok) => {
      const c = spawn('kubectl', args, { env: { ...process.env, KUBECONFIG: this.kubeconfig, HOME: this.dir } });
      let out = '';
      let err = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => (err += d));
      c.on('close', (code) => ok({ code, out, err }));
      c.stdin.end(input ?? '');
    });
  }

  async ok(args: string[], input?: string): Promise<string> {
    const r = await this.kubectl(args, input);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed:\n${r.err}${r.out}`);
    return r.out;
  }

  file(name: string, text: string): string {
    const f = join(this.dir, name);
    writeFileSync(f, text);
    return f;
  }

  async stop(): Promise<void> {
    await this.server.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
