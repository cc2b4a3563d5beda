// Network configuration (stdin) and protocol parameters (CNI_* environment) -> one checked request.
// Every rejection names the field and carries the spec's code: 1 version, 2 unsupported field,
// 4 environment, 6 decoding, 7 configuration.
import { Code, type CniVersion, type Dns, LATEST, type Result, SUPPORTED_VERSIONS, cniError, isSupported, parseResult } from './spec.js';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'GC', 'STATUS'] as const;
export type Command = (typeof COMMANDS)[number];

export interface Attachment { containerID: string; ifname: string }

export interface NetConf {
  cniVersion: CniVersion;
  name: string;
  romanaApi: string;
  tokenFile?: string;
  /** CA certificate (PEM file) for an https:// romana_api. */
  caFile?: string;
  host?: string;
  segmentLabel: string;
  mtu: number;
  logFile?: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  dns?: Dns;
  prevResult?: Result;
  /** Labels the runtime handed over (runtimeConfig.labels, args.cni.labels). */
  labels: Record<string, string>;
  /** Defaults for tenant and segment from the network configuration's own `tenant` / `segment`. */
  tenant?: string;
  segment?: string;
  /** CONVENTIONS.md's `args.cni` and the runtime's `runtimeConfig`: tenant, segment and requested IPs. */
  argsCni: OwnerArgs;
  runtime: OwnerArgs;
  /** Where the plugin keeps state on this host (the pending-release journal). */
  stateDir: string;
  validAttachments?: Attachment[];
}

/** What `args.cni` or `runtimeConfig` may say about the owner and the address. */
export interface OwnerArgs { tenant?: string; segment?: string; ips?: string[] }

export const DEFAULT_STATE_DIR = '/var/lib/romana';

export interface Env {
  command: Command;
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS as a map (K8S_POD_NAMESPACE, K8S_POD_NAME, ROMANA_TENANT, ROMANA_SEGMENT, ...). */
  args: Record<string, string>;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function parseEnv(env: NodeJS.ProcessEnv): Env {
  const command = env.CNI_COMMAND;
  if (!command) throw cniError(Code.invalidEnv, 'CNI_COMMAND is not set');
  if (!(COMMANDS as readonly string[]).includes(command)) throw cniError(Code.invalidEnv, `CNI_COMMAND '${command}' is not one of ${COMMANDS.join(', ')}`);
  const c = command as Command;
  const containerId = env.CNI_CONTAINERID ?? '';
  const netns = env.CNI_NETNS ?? '';
  const ifname = env.CNI_IFNAME ?? '';
  if (c === 'ADD' || c === 'DEL' || c === 'CHECK') {
    if (!containerId) throw cniError(Code.invalidEnv, 'CNI_CONTAINERID is not set');
    if (!NAME_RE.test(containerId)) throw cniError(Code.invalidEnv, `CNI_CONTAINERID '${containerId}' must start with a letter or digit and hold only letters, digits, '_', '.' and '-'`);
    if (!ifname) throw cniError(Code.invalidEnv, 'CNI_IFNAME is not set');
    if (ifname.length > 15 || ifname === '.' || ifname === '..' || /[/:\s]/.test(ifname)) {
      throw cniError(Code.invalidEnv, `CNI_IFNAME '${ifname}' is not a valid interface name (at most 15 characters, no '/', ':' or whitespace)`);
    }
    if (c !== 'DEL' && !netns) throw cniError(Code.invalidEnv, 'CNI_NETNS is not set');
  }
  return { command: c, containerId, netns, ifname, args: parseArgs(env.CNI_ARGS ?? '') };
}

/** "K=V;K2=V2" (the value may itself contain '='). Unknown keys are kept and ignored by the plugin. */
export function parseArgs(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of s.split(';')) {
    if (!pair.trim()) continue;
    const i = pair.indexOf('=');
    if (i <= 0) throw cniError(Code.invalidEnv, `CNI_ARGS: '${pair}' is not KEY=VALUE`);
    out[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
  }
  return out;
}

/** Keys the protocol or runtimes put into a plugin's configuration; they are accepted as they come. */
const PROTOCOL_KEYS = new Set(['cniVersion', 'cniVersions', 'name', 'type', 'args', 'runtimeConfig', 'prevResult', 'capabilities', 'disableCheck', 'disableGC', 'dns']);
const OWN_KEYS = new Set(['romana_api', 'romana_token_file', 'romana_ca_file', 'host', 'segment_label_name', 'mtu', 'log_file', 'log_level', 'tenant', 'segment', 'state_dir']);
/** Fields of older versions, refused with what to do instead. */
const GONE_KEYS: Record<string, string> = {
  kubernetes: ' (romana-cni no longer reads the Kubernetes API: it takes the pod\'s labels from romanad, which romana-listener keeps in step; remove this field)',
};
/** romanad's rule for tenant and segment names. */
export const OWNER_RE = /^[A-Za-z0-9_.:-]{1,253}$/;

/** The cniVersion to put on an error when the configuration cannot be trusted. */
export function versionOf(stdin: string): CniVersion {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return isSupported(v) ? v : LATEST;
  } catch {
    return LATEST;
  }
}

export function decode(stdin: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (e) {
    throw cniError(Code.decoding, 'network configuration on stdin is not valid JSON', (e as Error).message);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw cniError(Code.decoding, 'network configuration on stdin must be a JSON object');
  return raw as Record<string, unknown>;
}

/** A value for an error message: JSON, cut short; a value too deep to stringify is named by its type. */
function shown(v: unknown): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    s = Array.isArray(v) ? '[...]' : '{...}';
  }
  return s === undefined ? String(s) : s.length > 200 ? `${s.slice(0, 200)}...` : s;
}

export function parseConfig(stdin: string, command: Command): NetConf {
  const o = decode(stdin);
  const v = o.cniVersion;
  if (typeof v !== 'string' || !v) throw cniError(Code.incompatibleVersion, `cniVersion is missing; supported: ${SUPPORTED_VERSIONS.join(', ')}`);
  if (!isSupported(v)) throw cniError(Code.incompatibleVersion, `cniVersion ${v} is not supported; supported: ${SUPPORTED_VERSIONS.join(', ')}`);
  if ((command === 'GC' || command === 'STATUS') && v !== '1.1.0') throw cniError(Code.incompatibleVersion, `config version ${v} does not allow ${command} (needs 1.1.0)`);

  for (const k of Object.keys(o)) {
    if (PROTOCOL_KEYS.has(k) || OWN_KEYS.has(k) || k.startsWith('cni.dev/')) continue;
    if (k === 'ipMasq' && o.ipMasq === false) continue;
    const why = k === 'ipam' ? ' (romana allocates addresses itself; remove the ipam section)' : k === 'ipMasq' ? ' (romana does not masquerade)' : GONE_KEYS[k] ?? '';
    throw cniError(Code.unsupportedField, `unsupported field ${k}=${shown(o[k])}${why}`);
  }

  const bad = (msg: string) => cniError(Code.invalidConfig, msg);
  const optString = (k: string): string | undefined => {
    if (o[k] === undefined || o[k] === null) return undefined;
    if (typeof o[k] !== 'string' || !o[k]) throw bad(`${k} must be a non-empty string`);
    return o[k] as string;
  };
  const name = optString('name');
  if (!name || !NAME_RE.test(name)) throw bad(`name must be a network name (letters, digits, '_', '.', '-'), got ${shown(o.name)}`);
  if (typeof o.type !== 'string' || !o.type) throw bad('type must be a non-empty string');
  const romanaApi = optString('romana_api');
  if (!romanaApi) throw bad('romana_api (the URL of romanad) is required');
  let url: URL;
  try {
    url = new URL(romanaApi);
  } catch {
    throw bad(`romana_api '${romanaApi}' is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(`romana_api '${romanaApi}' must be http:// or https://`);
  let mtu = 1500;
  if (o.mtu !== undefined) {
    if (typeof o.mtu !== 'number' || !Number.isInteger(o.mtu) || o.mtu < 68 || o.mtu > 65535) throw bad(`mtu must be an integer from 68 to 65535, got ${shown(o.mtu)}`);
    mtu = o.mtu;
  }
  const logLevel = optString('log_level') ?? 'warn';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) throw bad(`log_level must be debug, info, warn or error, got '${logLevel}'`);
  if (o.dns !== undefined && (typeof o.dns !== 'object' || o.dns === null || Array.isArray(o.dns))) throw bad('dns must be an object');

  const conf: NetConf = {
    cniVersion: v,
    name,
    romanaApi: romanaApi.replace(/\/+$/, ''),
    tokenFile: optString('romana_token_file'),
    caFile: optString('romana_ca_file'),
    host: optString('host'),
    segmentLabel: optString('segment_label_name') ?? 'romana.io/segment',
    mtu,
    logFile: optString('log_file'),
    logLevel: logLevel as NetConf['logLevel'],
    dns: o.dns as Dns | undefined,
    labels: { ...argsLabels(o.args), ...runtimeLabels(o.runtimeConfig) },
    tenant: ownerName(optString('tenant'), 'tenant'),
    segment: ownerName(optString('segment'), 'segment'),
    argsCni: ownerArgs(o.args && typeof o.args === 'object' ? (o.args as { cni?: unknown }).cni : undefined, 'args.cni'),
    runtime: ownerArgs(o.runtimeConfig, 'runtimeConfig'),
    stateDir: optString('state_dir') ?? DEFAULT_STATE_DIR,
  };
  if (!conf.stateDir.startsWith('/')) throw bad(`state_dir must be an absolute path, got '${conf.stateDir}'`);
  if (o.prevResult !== undefined && o.prevResult !== null) conf.prevResult = parseResult(o.prevResult);
  if (command === 'GC') conf.validAttachments = parseAttachments(o['cni.dev/valid-attachments'] ?? o['cni.dev/attachments']);
  return conf;
}

function labelList(x: unknown, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (x === undefined || x === null) return out;
  if (Array.isArray(x)) {
    for (const e of x) {
      const kv = e as { key?: unknown; value?: unknown };
      if (!kv || typeof kv.key !== 'string' || typeof kv.value !== 'string') throw cniError(Code.invalidConfig, `${where} entries must be {"key": string, "value": string}`);
      out[kv.key] = kv.value;
    }
    return out;
  }
  if (typeof x === 'object') {
    for (const [k, val] of Object.entries(x)) {
      if (typeof val !== 'string') throw cniError(Code.invalidConfig, `${where}.${k} must be a string`);
      out[k] = val;
    }
    return out;
  }
  throw cniError(Code.invalidConfig, `${where} must be an object or a list of {key, value}`);
}

const runtimeLabels = (rc: unknown) => (rc && typeof rc === 'object' ? labelList((rc as { labels?: unknown }).labels, 'runtimeConfig.labels') : {});
/** CONVENTIONS.md: "args": {"cni": {"labels": [{"key": ..., "value": ...}]}} */
const argsLabels = (a: unknown) => (a && typeof a === 'object' ? labelList((a as { cni?: { labels?: unknown } }).cni?.labels, 'args.cni.labels') : {});

function ownerName(v: string | undefined, where: string): string | undefined {
  if (v !== undefined && !OWNER_RE.test(v)) throw cniError(Code.invalidConfig, `${where} '${v}' may hold only letters, digits and _ . : - (at most 253)`);
  return v;
}

/** tenant, segment and ips of `args.cni` or `runtimeConfig` (the `ips` capability); other keys are not ours. */
function ownerArgs(x: unknown, where: string): OwnerArgs {
  if (x === undefined || x === null) return {};
  if (typeof x !== 'object' || Array.isArray(x)) throw cniError(Code.invalidConfig, `${where} must be an object`);
  const o = x as Record<string, unknown>;
  const text = (k: 'tenant' | 'segment') => {
    if (o[k] === undefined || o[k] === null || o[k] === '') return undefined;
    if (typeof o[k] !== 'string') throw cniError(Code.invalidConfig, `${where}.${k} must be a string`);
    return ownerName(o[k] as string, `${where}.${k}`);
  };
  let ips: string[] | undefined;
  if (o.ips !== undefined && o.ips !== null) {
    if (!Array.isArray(o.ips) || o.ips.some((i) => typeof i !== 'string')) throw cniError(Code.invalidConfig, `${where}.ips must be a list of strings`);
    if (o.ips.length) ips = o.ips as string[];
  }
  return { ...(text('tenant') ? { tenant: text('tenant') } : {}), ...(text('segment') ? { segment: text('segment') } : {}), ...(ips ? { ips } : {}) };
}

function parseAttachments(x: unknown): Attachment[] {
  if (x === undefined || x === null) return [];
  if (!Array.isArray(x)) throw cniError(Code.invalidConfig, 'cni.dev/valid-attachments must be a list');
  return x.map((a, i) => {
    const o = a as { containerID?: unknown; ifname?: unknown };
    if (!o || typeof o.containerID !== 'string' || typeof o.ifname !== 'string') {
      throw cniError(Code.invalidConfig, `cni.dev/valid-attachments[${i}] must be {"containerID": string, "ifname": string}`);
    }
    return { containerID: o.containerID, ifname: o.ifname };
  });
}
