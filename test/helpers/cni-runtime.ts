// A small CNI runtime (the stand-in for cnitool, which Debian does not ship): executes a network
// configuration list the way libcni does. ADD runs the plugins in order, each receiving the previous
// one's result as prevResult; DEL runs them in reverse with the cached ADD result; CHECK runs them in
// order with it; GC and STATUS (spec 1.1.0 lists only) run every plugin. Used by the CNI tests, the
// benchmark and the lab. As a command:
//   node --import tsx test/helpers/cni-runtime.ts add|check|del <conflist.json> <netns> [containerId] [ifname]
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
  disableCheck?: boolean;
  disableGC?: boolean;
  [k: string]: unknown;
}

export interface RuntimeOptions {
  /** CNI_NETNS: a path such as /run/netns/x (a bare name is taken as /run/netns/<name>). */
  netns?: string;
  containerId?: string;
  /** CNI_IFNAME, default eth0. */
  ifname?: string;
  /** CNI_PATH: the directories searched for plugin executables (default /usr/lib/cni). */
  cniPath?: string | string[];
  /** CNI_ARGS as a map or as "K=V;K2=V2". */
  args?: Record<string, string> | string;
  /** Values for plugins' capabilities, put into runtimeConfig (portMappings, bandwidth, mac, labels, ...). */
  capabilityArgs?: Record<string, unknown>;
  /** Run the plugins inside this network namespace (name or path), as a runtime living in a host netns would. */
  hostNetns?: string;
  /** Extra environment for the plugins. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface PluginRun {
  plugin: string;
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, when it is JSON. */
  json?: Record<string, unknown>;
  ms: number;
}

/** A plugin failed: the spec's error fields plus everything needed to see why. */
export class CniRuntimeError extends Error {
  readonly code?: number;
  readonly msg?: string;
  readonly details?: string;
  constructor(readonly run: PluginRun) {
    const j = run.json as { code?: number; msg?: string; details?: string } | undefined;
    super(`${run.plugin} ${run.command} failed (exit ${run.exitCode}): ${j?.msg ?? run.stdout.trim()}${j?.code !== undefined ? ` [code ${j.code}]` : ''}${run.stderr.trim() ? `\nstderr: ${run.stderr.trim().slice(0, 2000)}` : ''}`);
    this.name = 'CniRuntimeError';
    this.code = j?.code;
    this.msg = j?.msg;
    this.details = j?.details;
  }
}

const nsPath = (ns: string) => (ns.includes('/') ? ns : `/run/netns/${ns}`);
const dirsOf = (p: RuntimeOptions['cniPath']) => (Array.isArray(p) ? p : (p ?? '/usr/lib/cni').split(':')).filter(Boolean);
const argsOf = (a: RuntimeOptions['args']) => (typeof a === 'string' ? a : Object.entries(a ?? {}).map(([k, v]) => `${k}=${v}`).join(';'));

export function findPlugin(type: string, cniPath: RuntimeOptions['cniPath']): string {
  for (const d of dirsOf(cniPath)) if (existsSync(join(d, type))) return join(d, type);
  throw new Error(`no plugin '${type}' in CNI_PATH ${dirsOf(cniPath).join(':')}`);
}

/** Runs one plugin executable once. Never throws for a plugin failure: look at exitCode/json. */
export function runPlugin(type: string, command: string, config: unknown, opts: RuntimeOptions = {}): Promise<PluginRun> {
  const exe = type.includes('/') ? type : findPlugin(type, opts.cniPath);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_PATH: dirsOf(opts.cniPath).join(':'),
    ...(opts.containerId !== undefined ? { CNI_CONTAINERID: opts.containerId } : {}),
    ...(opts.netns !== undefined ? { CNI_NETNS: nsPath(opts.netns) } : {}),
    ...(command === 'VERSION' || command === 'GC' || command === 'STATUS' ? {} : { CNI_IFNAME: opts.ifname ?? 'eth0' }),
    ...(opts.args !== undefined ? { CNI_ARGS: argsOf(opts.args) } : {}),
    ...opts.env,
  };
  const [cmd, argv] = opts.hostNetns ? ['nsenter', [`--net=${nsPath(opts.hostNetns)}`, exe]] : [exe, []];
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv as string[], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 30000);
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      let json: Record<string, unknown> | undefined;
      try {
        json = stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : undefined;
      } catch {
        /* not JSON */
      }
      resolve({ plugin: type, command, exitCode: code ?? (signal ? 128 : 1), stdout, stderr, json, ms: performance.now() - started });
    });
    p.stdin.end(config === undefined ? '' : typeof config === 'string' ? config : JSON.stringify(config));
  });
}

/** The execution configuration of one plugin of a list (spec section 3). */
export function pluginConfig(list: Conflist, plugin: Record<string, unknown>, opts: RuntimeOptions, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
  const caps = plugin.capabilities as Record<string, boolean> | undefined;
  const rc: Record<string, unknown> = {};
  for (const [k, on] of Object.entries(caps ?? {})) if (on && opts.capabilityArgs && k in opts.capabilityArgs) rc[k] = opts.capabilityArgs[k];
  if (Object.keys(rc).length) conf.runtimeConfig = { ...(plugin.runtimeConfig as object | undefined), ...rc };
  return { ...conf, ...extra };
}

async function must(type: string, command: string, config: unknown, opts: RuntimeOptions): Promise<PluginRun> {
  const r = await runPlugin(type, command, config, opts);
  if (r.exitCode !== 0) throw new CniRuntimeError(r);
  return r;
}

const required = (opts: RuntimeOptions) => {
  if (!opts.netns || !opts.containerId) throw new Error('netns and containerId are required');
};

/** ADD through the list; returns the last plugin's result (what a runtime caches). */
export async function conflistAdd(list: Conflist, opts: RuntimeOptions): Promise<Record<string, unknown>> {
  required(opts);
  let prev: Record<string, unknown> | undefined;
  for (const p of list.plugins) {
    const r = await must(String(p.type), 'ADD', pluginConfig(list, p, opts, prev ? { prevResult: prev } : {}), opts);
    if (!r.json) throw new CniRuntimeError({ ...r, stdout: `no result on stdout: ${r.stdout}` });
    prev = r.json;
  }
  return prev ?? {};
}

/** DEL through the list in reverse, with the cached ADD result as prevResult when there is one. */
export async function conflistDel(list: Conflist, opts: RuntimeOptions, prevResult?: Record<string, unknown>): Promise<void> {
  if (!opts.containerId) throw new Error('containerId is required');
  for (const p of [...list.plugins].reverse()) await must(String(p.type), 'DEL', pluginConfig(list, p, opts, prevResult ? { prevResult } : {}), opts);
}

/** CHECK through the list with the cached ADD result (skipped when the list says disableCheck). */
export async function conflistCheck(list: Conflist, opts: RuntimeOptions, prevResult: Record<string, unknown>): Promise<void> {
  required(opts);
  if (list.disableCheck) return;
  for (const p of list.plugins) await must(String(p.type), 'CHECK', pluginConfig(list, p, opts, { prevResult }), opts);
}

const atLeast110 = (v: string) => {
  const [a, b] = v.split('.').map(Number);
  return a > 1 || (a === 1 && b >= 1);
};

/** GC (spec 1.1.0): every plugin gets the attachments that are still valid. A no-op for older lists. */
export async function conflistGc(list: Conflist, opts: RuntimeOptions, validAttachments: { containerID: string; ifname: string }[]): Promise<void> {
  if (!atLeast110(list.cniVersion) || list.disableGC) return;
  for (const p of list.plugins) await must(String(p.type), 'GC', pluginConfig(list, p, opts, { 'cni.dev/valid-attachments': validAttachments }), opts);
}

/** STATUS (spec 1.1.0): the first plugin that is not ready fails the list. A no-op for older lists. */
export async function conflistStatus(list: Conflist, opts: RuntimeOptions): Promise<void> {
  if (!atLeast110(list.cniVersion)) return;
  for (const p of list.plugins) await must(String(p.type), 'STATUS', pluginConfig(list, p, opts), opts);
}

// As a command: add|check|del <conflist> <netns> [containerId] [ifname]; DEL/CHECK read the cached
// result from $CNI_RESULT (a file) when set. CNI_PATH, CNI_ARGS come from the environment.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [verb, file, netns, containerId = 'cnitool-0', ifname = 'eth0'] = process.argv.slice(2);
  if (!verb || !file || !netns) {
    process.stderr.write('usage: cni-runtime add|check|del <conflist.json> <netns> [containerId] [ifname]\n');
    process.exit(2);
  }
  const list = JSON.parse(readFileSync(file, 'utf8')) as Conflist;
  const opts: RuntimeOptions = { netns, containerId, ifname, cniPath: process.env.CNI_PATH, args: process.env.CNI_ARGS };
  const cached = process.env.CNI_RESULT && existsSync(process.env.CNI_RESULT) ? JSON.parse(readFileSync(process.env.CNI_RESULT, 'utf8')) : undefined;
  try {
    if (verb === 'add') process.stdout.write(JSON.stringify(await conflistAdd(list, opts), null, 2) + '\n');
    else if (verb === 'del') await conflistDel(list, opts, cached);
    else if (verb === 'check') await conflistCheck(list, opts, cached);
    else throw new Error(`unknown verb ${verb}`);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(1);
  }
}
