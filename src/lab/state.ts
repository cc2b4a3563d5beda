// What a running lab consists of, kept in a state file so `down`, `probe` and `export` can find it.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RackState } from './racks.js';
import type { VpcState } from './vpc.js';

export interface LabPod {
  namespace: string;
  name: string;
  netns: string;
  host: string;
  ip?: string;
  containerId: string;
  labels: Record<string, string>;
  ports: { name?: string; port: number; protocol: string }[];
  serverPid?: number;
  /** The Pod's UID (labs with --kubernetes), handed to romana-cni as K8S_POD_UID. */
  uid?: string;
}

export interface LabState {
  name: string;
  prefix: string;
  dir: string;
  apiUrl: string;
  /** The operator's admin token for apiUrl (mode 600). */
  adminTokenFile: string;
  /** romanad as the hosts see it, over the fabric. */
  fabricApiUrl: string;
  fabric: string;
  /** `apiUrl`: where the host reaches romanad when not at fabricApiUrl; `rack`: its rack (--racks). */
  hosts: { name: string; netns: string; ip: string; agentPid?: number; apiUrl?: string; rack?: number; zone?: string }[];
  pods: LabPod[];
  externals: { name: string; ip: string }[];
  pids: { romanad?: number; relay?: number; external?: number };
  /** The cluster file as given (namespaces, labels, policies, externals). */
  cluster: Record<string, unknown>;
  /** Every agent's firewall backend (--dataplane). */
  dataplane?: string;
  /** With --kubernetes: the API server stand-in and the listeners (src/lab/kube.ts). */
  kube?: import('./kube.js').KubeState;
  /** `--racks`: top-of-rack routers, the spine, and every BIRD daemon. */
  racks?: RackState;
  /** `--vpc`: the EC2 stand-in and the route publisher in the fabric namespace. */
  vpc?: VpcState;
}

export const FABRIC_NET = '192.168.200';
export const FABRIC_IP = `${FABRIC_NET}.254`;
export const FABRIC_API_PORT = 9600;

export function labDir(name: string): string {
  return process.env.ROMANA_LAB_DIR ?? join('/run/romana', `lab-${name}`);
}

export const statePath = (dir: string) => join(dir, 'state.json');

export function loadState(name: string): LabState | undefined {
  const p = statePath(labDir(name));
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as LabState) : undefined;
}

export function saveState(s: LabState): void {
  mkdirSync(s.dir, { recursive: true, mode: 0o700 });
  writeFileSync(statePath(s.dir), JSON.stringify(s, null, 2));
}
