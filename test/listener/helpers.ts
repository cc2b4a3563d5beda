// A scene for romana-listener tests: a real romanad (built binary, its own store, auth file with an
// admin and listener tokens), the test stand-in of the Kubernetes API server in this process (with the
// RomanaPolicy CRD), and real romana-listener processes with short leases and resync periods.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../../src/cli/client.js';
import { romanaPolicyCrd } from '../../src/listener/crd.js';
import { KubeApiServer, type KubeApiServerOptions } from '../../src/testing/kube-apiserver/server.js';
import type { Obj } from '../../src/testing/kube-apiserver/resources.js';
import YAML from 'yaml';
import { type Romanad, BIN, ROOT, startRomanad } from '../helpers/romanad.js';
import { writeKubeconfig } from '../kube-apiserver/helpers.js';

export const TOKENS = { admin: 'admin-token-0123456789abcdef', a: 'listener-a-token-0123456789', b: 'listener-b-token-0123456789' };
export const TOPOLOGY = {
  networks: [{ name: 'pods', cidr: '10.120.0.0/16', block_mask: 28 }],
  topologies: [{ networks: ['pods'], map: [{ name: 'rack-1', assignment: { rack: 'r1' }, groups: [] }, { name: 'rack-2', assignment: { rack: 'r2' }, groups: [] }] }],
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => ok(p));
    });
  });
}

/** Polls until `check` returns a truthy value (or its assertion passes); fails with the last reason. */
export async function eventually<T>(what: string, ms: number, check: () => Promise<T | undefined | false | null> | T | undefined | false | null): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as T;
      last = 'not yet';
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms: ${last instanceof Error ? last.message : String(last)}`);
    await sleep(50);
  }
}

export interface ListenerProc { proc: ChildProcess; identity: string; url: string; logs: () => string; stop(): Promise<void>; kill(): Promise<void> }

export class Scene {
  readonly dir = mkdtempSync(join(tmpdir(), 'romana-listener-test-'));
  readonly kube: KubeApiServer;
  romanad!: Romanad;
  admin!: ApiClient;
  kubeUrl = '';
  romanadPort = 0;
  readonly listeners: ListenerProc[] = [];

  constructor(kubeOpts: KubeApiServerOptions = { bookmarkIntervalMs: 300 }) {
    this.kube = new KubeApiServer(kubeOpts);
  }

  get auditLog(): string {
    return join(this.dir, 'audit.log');
  }

  async start(): Promise<this> {
    writeFileSync(join(this.dir, 'auth.json'), JSON.stringify({ tokens: [
      { token: TOKENS.admin, role: 'admin', name: 'admin' },
      { token: TOKENS.a, role: 'listener', name: 'listener-a' },
      { token: TOKENS.b, role: 'listener', name: 'listener-b' },
    ] }), { mode: 0o600 });
    writeFileSync(join(this.dir, 'listener-a.token'), TOKENS.a);
    writeFileSync(join(this.dir, 'listener-b.token'), TOKENS.b);
    writeFileSync(join(this.dir, 'topology.json'), JSON.stringify(TOPOLOGY));
    this.romanadPort = await freePort();
    await this.startRomanad();
    this.kubeUrl = await this.kube.listen(0);
    writeKubeconfig(join(this.dir, 'kubeconfig'), this.kubeUrl);
    this.create(romanaPolicyCrd());
    for (const ns of ['default', 'romana-system']) this.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    return this;
  }

  async startRomanad(): Promise<void> {
    this.romanad = await startRomanad({
      dataDir: join(this.dir, 'data'), topologyFile: join(this.dir, 'topology.json'), token: TOKENS.admin,
      extraArgs: ['--port', String(this.romanadPort), '--auth-file', join(this.dir, 'auth.json'), '--audit-log', this.auditLog],
    });
    this.admin = this.romanad.api;
  }

  /** Starts a real romana-listener; resolves once it answers. */
  async listener(identity: string, token: 'a' | 'b' = 'a', extra: string[] = [], kubeconfig = join(this.dir, 'kubeconfig')): Promise<ListenerProc> {
    const args = [
      BIN('romana-listener'), '--api', `http://127.0.0.1:${this.romanadPort}`, '--token-file', join(this.dir, `listener-${token}.token`),
      '--kubeconfig', kubeconfig, '--identity', identity, '--lease-namespace', 'romana-system',
      '--lease-duration', '2', '--renew-deadline', '1.5', '--retry-period', '0.2', '--resync-period', '3', '--release-grace', '0.5',
      '--rack-label', 'example.com/rack', '--listen', '127.0.0.1', '--port', '0', '--log-level', 'info', ...extra,
    ];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (out += d));
    const url: string = await eventually(`listener ${identity} start`, 15000, (): string | undefined => {
      if (proc.exitCode !== null) throw new Error(`exited ${proc.exitCode}: ${out}`);
      const line = out.split('\n').find((l) => l.includes('romana-listener ready'));
      return line ? `http://${(JSON.parse(line) as { listen: string }).listen}` : undefined;
    });
    const exited = new Promise<void>((r) => (proc.exitCode !== null ? r() : proc.once('exit', () => r())));
    const end = async (sig: NodeJS.Signals) => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
      await exited;
    };
    const l = { proc, identity, url, logs: () => out, stop: () => end('SIGTERM'), kill: () => end('SIGKILL') };
    this.listeners.push(l);
    return l;
  }

  async status(l: ListenerProc): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const r = await fetch(`${l.url}/status`);
    return (await r.json()) as Record<string, unknown>;
  }

  /** Waits until `l` leads and romanad holds everything the API server says. */
  async synced(l: ListenerProc, ms = 15000): Promise<void> {
    const rv = this.kube.registry.store.rv;
    await eventually(`${l.identity} in sync`, ms, async () => {
      const s = await this.status(l);
      return s.leading && s.synced && Object.values(s.resourceVersions as Record<string, string>).every((v) => Number(v) >= rv);
    });
  }

  // ---- the cluster, written in-process as a client would ------------------------------------

  private def(apiVersion: string, kind: string) {
    const d = this.kube.registry.findKind(apiVersion, kind);
    assert.ok(d, `no resource for ${apiVersion} ${kind}`);
    return d;
  }

  create(o: Obj): Obj {
    return this.kube.registry.create(this.def(o.apiVersion, o.kind), o.metadata.namespace, o, { manager: 'test' }).obj;
  }

  update(o: Obj): Obj {
    return this.kube.registry.update(this.def(o.apiVersion, o.kind), o.metadata.namespace, o.metadata.name, o, { manager: 'test' }).obj;
  }

  patch(apiVersion: string, kind: string, ns: string | undefined, name: string, patch: unknown, subresource?: string): Obj {
    return this.kube.registry.patch(this.def(apiVersion, kind), ns, name, 'application/merge-patch+json', patch, { manager: 'test', subresource }).obj;
  }

  remove(apiVersion: string, kind: string, ns: string | undefined, name: string): void {
    this.kube.registry.delete(this.def(apiVersion, kind), ns, name, {});
  }

  get(apiVersion: string, kind: string, ns: string | undefined, name: string): Obj | undefined {
    return this.kube.registry.store.get(`${this.def(apiVersion, kind).group}/${this.def(apiVersion, kind).resource}`, ns ? `${ns}/${name}` : name);
  }

  list(apiVersion: string, kind: string, ns?: string): Obj[] {
    return this.kube.registry.list(this.def(apiVersion, kind), ns);
  }

  audit(): { who: string; method: string; url: string; status: number; time: number }[] {
    return readFileSync(this.auditLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  }

  async stop(): Promise<void> {
    await Promise.all(this.listeners.map((l) => l.stop()));
    await this.romanad?.stop();
    await this.kube.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---- object builders ---------------------------------------------------------------------------

export const node = (name: string, ip: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } },
  status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }], conditions: [{ type: 'Ready', status: 'True' }] },
});
export const namespace = (name: string, labels: Record<string, string> = {}) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
export const pod = (ns: string, name: string, nodeName: string, labels: Record<string, string> = {}, ports: { name?: string; containerPort: number; protocol?: string }[] = []) => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels },
  spec: { nodeName, containers: [{ name: 'app', image: 'registry.example/app:1', ports }] },
});
export const netpol = (ns: string, name: string, spec: Obj) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec });
export const romanaPolicy = (name: string, spec: Obj) => ({ apiVersion: 'romana.io/v1', kind: 'RomanaPolicy', metadata: { name }, spec });

/** Every object of the install manifests (deploy/kubernetes/*.yaml), with its file. */
export function manifests(): { file: string; obj: Obj }[] {
  const dir = join(ROOT, 'deploy', 'kubernetes');
  return readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().flatMap((file) =>
    YAML.parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => ({ file, obj: d.toJS() as Obj })).filter((x) => x.obj));
}
