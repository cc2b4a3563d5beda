// `romana lab up --kubernetes`: the lab as a Kubernetes cluster. The test stand-in of the Kubernetes
// API server (src/testing/kube-apiserver: there is no real one here) runs in the root namespace on
// loopback, like romanad; the lab's hosts are its Nodes; two romana-listeners (a leader and a standby)
// keep romanad in step with it, under the RBAC of deploy/kubernetes. The cluster file's namespaces,
// pods and policies go in as Kubernetes objects, and pods are still attached through romana-cni.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { RomanaError, invalid } from '../core/errors.js';
import { sleep, spawnIn } from './kernel.js';
import { freePort, waitFor } from './wait.js';
import type { LabPod, LabState } from './state.js';

export interface KubeState {
  url: string;
  /** The operator's kubeconfig (a cluster admin of the stand-in). */
  kubeconfig: string;
  pids: { apiserver?: number; listeners: number[] };
  /** The listeners' /status endpoints. */
  listenerUrls: string[];
}

const SA = 'system:serviceaccount:romana-system:romana-listener';
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any



/** Plain HTTP on loopback: clients must be told not to expect TLS. */
function kubeconfigText(server: string, token: string): string {
  return YAML.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'romana-lab',
    clusters: [{ name: 'romana-lab', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'romana-lab', user: { token } }],
    contexts: [{ name: 'romana-lab', context: { cluster: 'romana-lab', user: 'romana-lab', namespace: 'default' } }],
  });
}

/** The listeners' romanad tokens (role listener), added to the lab's auth file before romanad starts. */
export function addListenerTokens(s: LabState): void {
  const file = join(s.dir, 'auth.json');
  const auth = JSON.parse(readFileSync(file, 'utf8')) as { tokens: unknown[] };
  for (const i of [1, 2]) {
    const token = randomBytes(24).toString('base64url');
    auth.tokens.push({ token, role: 'listener', name: `listener-${i}` });
    writeFileSync(join(s.dir, `listener-${i}.token`), token + '\n', { mode: 0o600 });
  }
  writeFileSync(file, JSON.stringify(auth, null, 2), { mode: 0o600 });
}

async function clients(kubeconfig: string) {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  return { k8s, objects: k8s.KubernetesObjectApi.makeApiClient(kc), core: kc.makeApiClient(k8s.CoreV1Api) };
}

/** Starts the API server stand-in, gives it the CRD, RBAC and the hosts as Nodes, then two listeners. */
export async function startKube(s: LabState, o: { node: string; self: string; dist: string }): Promise<void> {
  const port = await freePort();
  const adminToken = randomBytes(24).toString('base64url');
  const saToken = randomBytes(24).toString('base64url');
  writeFileSync(join(s.dir, 'kube-tokens.csv'), [
    `${adminToken},lab-admin,lab-admin,"system:masters"`,
    `${saToken},${SA},romana-listener,"system:serviceaccounts,system:serviceaccounts:romana-system"`, '',
  ].join('\n'), { mode: 0o600 });
  const url = `http://127.0.0.1:${port}`;
  s.kube = { url, kubeconfig: join(s.dir, 'kubeconfig'), pids: { listeners: [] }, listenerUrls: [] };
  writeFileSync(s.kube.kubeconfig, kubeconfigText(url, adminToken), { mode: 0o600 });
  writeFileSync(join(s.dir, 'listener-kubeconfig'), kubeconfigText(url, saToken), { mode: 0o600 });
  // Bookmarks every 200 ms: a listener counts as synced when every watch it holds has reached the
  // server's resourceVersion, and the watches an apply did not touch get there by bookmark (converge).
  s.kube.pids.apiserver = spawnIn(undefined, o.node, [o.self, 'lab', 'kube-apiserver', '--listen', `127.0.0.1:${port}`, '--token-file', join(s.dir, 'kube-tokens.csv'), '--bookmark-interval', '200'], join(s.dir, 'kube-apiserver.log'));
  const { objects, core } = await clients(s.kube.kubeconfig);
  await waitFor('the Kubernetes API server stand-in to start', 20000, async () => !!(await core.listNamespace({ limit: 1 })));

  // What the install manifests give the listener: its namespace, account and RBAC, and the CRD.
  const deploy = resolve(o.dist, '..', 'deploy', 'kubernetes');
  if (!existsSync(deploy)) throw new RomanaError('invalid', `${deploy} is missing: the lab applies the listener's RBAC and the CRD from it`);
  const docs = ['namespace.yaml', 'rbac.yaml', 'crd.yaml'].flatMap((f) => YAML.parseAllDocuments(readFileSync(join(deploy, f), 'utf8')).map((d) => d.toJS() as Obj));
  for (const d of [...docs, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } }]) await objects.create(d);
  for (const h of s.hosts) {
    await objects.create({
      apiVersion: 'v1', kind: 'Node', metadata: { name: h.name, labels: { 'kubernetes.io/hostname': h.name, 'kubernetes.io/os': 'linux' } },
      status: { addresses: [{ type: 'InternalIP', address: h.ip }, { type: 'Hostname', address: h.name }], conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }] },
    } as Obj);
  }

  for (const i of [1, 2]) {
    const lport = await freePort();
    s.kube.listenerUrls.push(`http://127.0.0.1:${lport}`);
    s.kube.pids.listeners.push(spawnIn(undefined, o.node, [
      join(o.dist, 'romana-listener.mjs'), '--api', s.apiUrl, '--token-file', join(s.dir, `listener-${i}.token`),
      '--kubeconfig', join(s.dir, 'listener-kubeconfig'), '--identity', `lab-listener-${i}`, '--lease-namespace', 'romana-system',
      '--lease-duration', '4', '--renew-deadline', '3', '--retry-period', '0.5', '--resync-period', '30', '--release-grace', '5',
      '--listen', '127.0.0.1', '--port', String(lport), '--log-level', 'warn',
    ], join(s.dir, `listener-${i}.log`)));
  }
}

/** The cluster file's namespaces and pods as Kubernetes objects; pods keep their UID for the CNI plugin. */
export async function createWorkloads(s: LabState, namespaces: { name: string; labels?: Record<string, string> }[]): Promise<void> {
  const { objects } = await clients(s.kube!.kubeconfig);
  for (const n of namespaces) {
    if (n.name === 'default') await objects.patch({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default', labels: n.labels ?? {} } } as Obj, undefined, undefined, undefined, undefined, 'application/merge-patch+json');
    else await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: n.name, labels: n.labels ?? {} } } as Obj);
  }
  for (const p of s.pods) {
    const made = await objects.create({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: p.namespace, labels: p.labels },
      spec: {
        nodeName: p.host,
        containers: [{ name: 'app', image: 'romana-lab/serve', ports: p.ports.map((x) => ({ ...(x.name ? { name: x.name } : {}), containerPort: x.port, protocol: x.protocol })) }],
      },
    } as Obj);
    p.uid = made.metadata?.uid;
  }
}

/** After romana-cni attached a pod, the kubelet's part: the pod's address and phase in its status. */
export async function podRunning(s: LabState, p: LabPod): Promise<void> {
  const { k8s, core } = await clients(s.kube!.kubeconfig);
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  await core.patchNamespacedPodStatus({
    name: p.name, namespace: p.namespace,
    body: { status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }], hostIP: s.hosts.find((h) => h.name === p.host)?.ip, startTime: now } },
  }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
}

/** The cluster file's policies as objects: NetworkPolicies as they are, Romana policies as RomanaPolicies. */
export async function createPolicies(s: LabState, policies: unknown[]): Promise<void> {
  const { objects } = await clients(s.kube!.kubeconfig);
  for (const [i, raw] of policies.entries()) {
    const pol = raw as Obj;
    let obj: Obj;
    if (pol.kind === 'NetworkPolicy') obj = { ...pol, metadata: { namespace: 'default', ...pol.metadata } };
    else {
      const { id, name, kind: _k, ...spec } = pol;
      obj = { apiVersion: 'romana.io/v1', kind: 'RomanaPolicy', metadata: { name: String(id ?? name) }, spec };
    }
    try {
      await objects.create(obj);
    } catch (e) {
      throw invalid(`policies[${i}]: the API server refused it: ${(e as { body?: { message?: string } }).body?.message ?? (e as Error).message}`);
    }
  }
}

/**
 * Waits until a listener leads and romanad holds everything the API server held when this was called
 * (the listener has seen the server's resourceVersion on every kind and has nothing left to apply).
 */
export async function kubeSynced(s: LabState, timeoutMs: number): Promise<void> {
  const { core } = await clients(s.kube!.kubeconfig);
  const rv = Number((await core.listNamespace({ limit: 1 })).metadata?.resourceVersion ?? 0);
  await waitFor('romana-listener to apply the Kubernetes objects', timeoutMs, async () => {
    for (const u of s.kube!.listenerUrls) {
      const st = await fetch(`${u}/status`).then((r) => r.json() as Promise<{ leading: boolean; synced: boolean; resourceVersions: Record<string, string> }>).catch(() => undefined);
      if (st?.leading && st.synced && Object.values(st.resourceVersions).every((v) => Number(v) >= rv)) return true;
    }
    return false;
  });
}

export const kubePids = (s: LabState): (number | undefined)[] => (s.kube ? [...s.kube.pids.listeners, s.kube.pids.apiserver] : []);
