// The CNI verbs. ADD allocates from romanad under a name derived from (container ID, interface), so a
// retry, CHECK, DEL and GC all find the address again from the container ID alone; then it wires a
// veth whose pod end gets the /32 and a default route via a proxy-ARP'd link-local gateway.
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { RomanaError } from '../core/errors.js';
import { attachmentLiveness, findLeaks } from '../core/ipam/check.js';
import type { Env, NetConf } from './config.js';
import {
  GATEWAY, createVeth, deleteHostLink, hash64, hostLinkExists, hostVethName, inspect,
  macsFor, plumb, podShell, routeToPod, setHostSysctls,
} from './kernel.js';
import type { Logger } from './log.js';
import { ownerRequest, requestedIp } from './owner.js';
import { Journal, isTransient, journalDir, sendPending } from './pending.js';
import { type AddressRecord, type AllocateRequest, Romanad } from './romanad.js';
import { Code, LATEST, type Result, SUPPORTED_VERSIONS, cniError, merge } from './spec.js';
import { traced } from './trace.js';

export const PLUGIN = 'romana-cni';

export interface Ctx { env: Env; conf: NetConf; log: Logger }

/** `cni:<containerID>:<ifname>`, kept within romanad's 253 characters for very long container IDs. */
export function addressName(containerId: string, ifname: string): string {
  const n = `cni:${containerId}:${ifname}`;
  return n.length <= 253 ? n : `cni:${containerId.slice(0, 200)}~${hash64(containerId)}:${ifname}`;
}

const hostOf = (conf: NetConf) => conf.host ?? hostname();
const apiOf = (conf: NetConf) => new Romanad(conf.romanaApi, conf.tokenFile, conf.caFile);
const journalOf = (conf: NetConf) => new Journal(journalDir(conf.stateDir));

function ourResult(env: Env, conf: NetConf, hostVeth: string, ip: string): Result {
  const macs = macsFor(env.containerId, env.ifname);
  return {
    interfaces: [
      { name: hostVeth, mac: macs.host, mtu: conf.mtu },
      { name: env.ifname, mac: macs.pod, mtu: conf.mtu, sandbox: env.netns },
    ],
    ips: [{ address: `${ip}/32`, gateway: GATEWAY, interface: 1 }],
    routes: [{ dst: '0.0.0.0/0', gw: GATEWAY }],
    ...(conf.dns ? { dns: conf.dns } : {}),
  };
}

export async function add({ env, conf, log }: Ctx): Promise<Result> {
  if (!existsSync(env.netns)) throw cniError(Code.invalidEnv, `CNI_NETNS ${env.netns} does not exist`);
  const host = hostOf(conf);
  const api = apiOf(conf);
  const { from, segmentFromPod, ...who } = ownerRequest(env, conf);
  const wanted = requestedIp(env, conf);
  const name = addressName(env.containerId, env.ifname);
  const hostVeth = hostVethName(env.containerId, env.ifname);
  const macs = macsFor(env.containerId, env.ifname);
  const attributes: Record<string, string> = {
    plugin: PLUGIN, cni_network: conf.name, container_id: env.containerId, ifname: env.ifname, netns: env.netns, host_ifname: hostVeth,
    ...(env.args.K8S_POD_NAMESPACE ? { namespace: env.args.K8S_POD_NAMESPACE } : {}),
    ...(env.args.K8S_POD_NAME ? { pod: env.args.K8S_POD_NAME } : {}),
    // So that romana-listener can tell this pod from a later one of the same name.
    ...(env.args.K8S_POD_UID ? { pod_uid: env.args.K8S_POD_UID } : {}),
  };
  const veth = { hostVeth, ifname: env.ifname, netns: env.netns, mtu: conf.mtu, hostMac: macs.host, podMac: macs.pod };
  const req = { name, host, ...who, attributes, ...(segmentFromPod ? { segment_from_pod: segmentFromPod } : {}), ...(wanted ? { ip: wanted.ip } : {}) };
  log.debug('owner', { ...who, from, requested: wanted ?? null });
  await settlePending(journalOf(conf), name, host, api, log);
  let ours = false;
  // One round trip (romanad reads the pod's segment label itself). The kernel's process starts once
  // the request is on its way, while romanad answers: a process start holds this one thread for the
  // fork. It makes the veth at once and waits for the address on its stdin.
  let sent!: () => void;
  const onWire = new Promise<void>((ok) => (sent = ok));
  const allocation = traced('allocated', allocateOrReuse(api, req, sent, log));
  allocation.catch(() => undefined);
  await Promise.race([onWire, allocation.then(() => undefined, () => undefined)]);
  const fresh = !hostLinkExists(hostVeth);
  const plumbing = fresh ? plumb(veth) : undefined;
  const pod = fresh ? undefined : podShell(env.netns);
  try {
    const rec = await allocation;
    ours = true;
    if (plumbing) {
      // The address goes to the process at once: it makes the veth (and its sysctls) before it reads it.
      void traced('veth', plumbing.ready).catch(() => undefined);
      if (process.env.ROMANA_CNI_FAILPOINT) await plumbing.ready;
      await failpoint('after-veth');
      await traced('configured', plumbing.configure(rec.ip));
    } else {
      if (await podHas(env, rec.ip)) {
        // A retried ADD that got this far before: re-assert the (idempotent) settings, create nothing.
        log.info('ADD retried: interface already in place', { name, ip: rec.ip });
        setHostSysctls(hostVeth);
        await all([routeToPod(hostVeth, rec.ip), pod!.configure(env.ifname, rec.ip)]);
        return merge(conf.prevResult, ourResult(env, conf, hostVeth, rec.ip));
      }
      await deleteHostLink(hostVeth); // half made by an attempt that died midway: start over
      await createVeth(veth);
      setHostSysctls(hostVeth);
      await failpoint('after-veth');
      await all([routeToPod(hostVeth, rec.ip), pod!.configure(env.ifname, rec.ip)]);
    }
    log.info('ADD', { name, ip: rec.ip, hostVeth, tenant: rec.tenant, segment: rec.segment });
    return merge(conf.prevResult, ourResult(env, conf, hostVeth, rec.ip));
  } catch (e) {
    log.warn('ADD failed, undoing', { name, error: (e as Error).message });
    if (plumbing) {
      plumbing.close(); // the veth may still be in the making: only once the process is gone can it be undone
      await plumbing.exited;
    }
    await deleteHostLink(hostVeth).catch((u) => log.error('undo: cannot delete veth', { hostVeth, error: (u as Error).message }));
    if (ours) await api.release(name).catch((u) => log.error('undo: cannot release address', { name, error: (u as Error).message }));
    throw e;
  } finally {
    pod?.close();
    plumbing?.close();
  }
}

/** Like Promise.all, but settles every promise before throwing (the undo must not race a running step). */
async function all(ps: Promise<unknown>[]): Promise<void> {
  const rs = await Promise.allSettled(ps);
  const bad = rs.find((r) => r.status === 'rejected');
  if (bad) throw (bad as PromiseRejectedResult).reason;
}

/**
 * Test hooks: ROMANA_CNI_FAILPOINT=after-veth makes ADD fail once the veth exists and the address is
 * allocated (the rollback test); =hang-after-veth makes it say so on stderr and wait there for ever,
 * so a test can SIGKILL it half-way (nothing is undone then).
 */
async function failpoint(at: string): Promise<void> {
  const fp = process.env.ROMANA_CNI_FAILPOINT;
  if (fp === at) throw cniError(Code.generic, `failpoint ${at}`);
  if (fp === `hang-${at}`) {
    process.stderr.write(`romana-cni: failpoint ${fp} reached\n`);
    await new Promise(() => setInterval(() => undefined, 60_000));
  }
}

/** The address of this attachment: made now, or the one an earlier attempt made (same host and owner). */
async function allocateOrReuse(api: Romanad, req: AllocateRequest, onSent?: () => void, log?: Logger): Promise<AddressRecord> {
  try {
    return await api.allocate(req, onSent);
  } catch (e) {
    if (e instanceof RomanaError && e.kind === 'invalid' && req.segment_from_pod && /segment_from_pod/.test(e.message)) {
      // A romanad older than this plugin: read the pod's label here, as before (two round trips).
      const { segment_from_pod: p, ...rest } = req;
      const pod = await api.pod(p.namespace, p.name);
      if (!pod) log?.info('romanad does not know the pod (yet)', { pod: `${p.namespace}/${p.name}` });
      const label = pod?.labels[p.label];
      return allocateOrReuse(api, { ...rest, ...(label ? { segment: label } : {}) });
    }
    // romanad answered the earlier allocation of this attachment itself (same host and owner, and the
    // same address if one was asked for); `exists` now means someone else holds the name or the address.
    if (e instanceof RomanaError && e.kind === 'exists' && req.ip === undefined) throw new RomanaError('conflict', e.message);
    throw e;
  }
}

async function podHas(env: Env, ip: string): Promise<boolean> {
  const v = await inspect(env.netns);
  return v.addrs.some((a) => a.ifname === env.ifname && a.addr_info.some((x) => x.local === ip));
}

/**
 * Sends this host's pending releases before an ADD allocates, and makes sure none is left for this very
 * attachment: a release sent after the allocation would take the new pod's address. A release that
 * another process is sending is waited for.
 */
async function settlePending(j: Journal, name: string, host: string, api: Romanad, log: Logger, timeoutMs = 10_000): Promise<void> {
  if (j.list().length === 0) return; // the usual case: one readdir
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await sendPending(j, host, api, log);
    const left = j.has(name).filter((e) => e.release?.host === host);
    if (left.length === 0) return;
    if (r.stopped) throw r.stopped;
    if (Date.now() > deadline) {
      throw new RomanaError('unavailable', `a pending release of ${name} is still being sent by process ${left[0].pid ?? '?'}; try again`);
    }
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

/** Sends other pending releases once romanad has answered; they never fail the call. */
async function sendOthers(conf: NetConf, api: Romanad, log: Logger): Promise<void> {
  const j = journalOf(conf);
  if (j.list().length === 0) return;
  await sendPending(j, hostOf(conf), api, log).catch((e: Error) => log.warn('pending releases not sent', { error: e.message }));
}

/** The pod's address as the runtime's cached result (prevResult) has it. */
function prevIp(env: Env, prev: Result | undefined): string | undefined {
  if (!prev) return undefined;
  const idx = prev.interfaces.findIndex((i) => i.name === env.ifname && !!i.sandbox);
  return idx < 0 ? undefined : prev.ips.find((i) => i.interface === idx)?.address.split('/')[0] || undefined;
}

/**
 * Idempotent: no veth, no address, no namespace -- all fine. The release is written to the host's
 * journal first (durably), so a crash anywhere later loses nothing; it is removed once romanad has
 * released the address. When romanad cannot be reached, the interface is still torn down, the release
 * stays in the journal for the agent or the next plugin call, and DEL succeeds.
 */
export async function del({ env, conf, log }: Ctx): Promise<void> {
  const name = addressName(env.containerId, env.ifname);
  const hostVeth = hostVethName(env.containerId, env.ifname);
  const host = hostOf(conf);
  const api = apiOf(conf);
  const j = journalOf(conf);
  const ip = prevIp(env, conf.prevResult);
  let entry: ReturnType<Journal['begin']>;
  try {
    entry = j.begin({ name, host, network: conf.name, container_id: env.containerId, ifname: env.ifname, ...(ip ? { ip } : {}), since: new Date().toISOString() });
  } catch (e) {
    // Nothing is torn down unless the release is safe on disk: the runtime's retry finds everything in place.
    throw cniError(Code.io, `cannot record the pending release in ${j.dir}: ${(e as Error).message} (state_dir)`);
  }
  await failpoint('after-journal');
  // Both at once: should the address be handed out again before the old veth is gone, the new pod's
  // `route replace` takes the /32 over and the old link's removal leaves it alone.
  const [rel, link] = await Promise.allSettled([api.release(name), deleteHostLink(hostVeth)]);
  await failpoint('after-teardown');
  if (rel.status === 'fulfilled') {
    j.finish(entry);
    log.info('DEL', { name, released: rel.value?.ip ?? null, hostVeth });
    await sendOthers(conf, api, log);
  } else {
    j.defer(entry);
    if (!isTransient(rel.reason)) throw rel.reason;
    log.warn('DEL: romanad unreachable; the release is pending on this host', { name, ip: ip ?? null, error: (rel.reason as Error).message });
  }
  if (link.status === 'rejected') throw link.reason;
}

export async function check({ env, conf, log }: Ctx): Promise<void> {
  const prev = conf.prevResult;
  if (!prev) throw cniError(Code.invalidConfig, 'CHECK needs prevResult (the result of the ADD)');
  if (!existsSync(env.netns)) throw cniError(Code.unknownContainer, `container network namespace ${env.netns} does not exist`);
  const fail = (msg: string) => cniError(Code.generic, `CHECK: ${msg}`);
  const idx = prev.interfaces.findIndex((i) => i.name === env.ifname && !!i.sandbox);
  if (idx < 0) throw fail(`prevResult has no sandbox interface ${env.ifname}`);
  const want = prev.ips.find((i) => i.interface === idx)?.address.split('/')[0];
  if (!want) throw fail(`prevResult has no address on ${env.ifname}`);
  const name = addressName(env.containerId, env.ifname);
  const api = apiOf(conf);
  const rec = await api.get(name);
  await sendOthers(conf, api, log);
  if (!rec) throw fail(`romanad has no address ${name}`);
  if (rec.ip !== want) throw fail(`romanad has ${rec.ip} for ${name}, prevResult says ${want}`);
  const hostVeth = hostVethName(env.containerId, env.ifname);
  if (!hostLinkExists(hostVeth)) throw fail(`host interface ${hostVeth} is missing`);
  if (readFileSync(`/proc/sys/net/ipv4/conf/${hostVeth}/proxy_arp`, 'utf8').trim() !== '1') throw fail(`proxy_arp is off on ${hostVeth}`);
  const [hostView, pod] = await Promise.all([inspect(), inspect(env.netns)]);
  if (!hostView.routes.some((r) => r.dst === want && r.dev === hostVeth)) throw fail(`host route ${want}/32 dev ${hostVeth} is missing`);
  const link = pod.links.find((l) => l.ifname === env.ifname);
  if (!link) throw fail(`interface ${env.ifname} is missing in ${env.netns}`);
  if (!link.flags?.includes('UP')) throw fail(`interface ${env.ifname} is down`);
  const mac = prev.interfaces[idx].mac;
  if (mac && link.address?.toLowerCase() !== mac.toLowerCase()) throw fail(`${env.ifname} has MAC ${link.address}, prevResult says ${mac}`);
  if (!pod.addrs.some((a) => a.ifname === env.ifname && a.addr_info.some((x) => x.local === want && x.prefixlen === 32))) throw fail(`${want}/32 is not on ${env.ifname}`);
  if (!pod.routes.some((r) => r.dst === GATEWAY && r.dev === env.ifname)) throw fail(`route to ${GATEWAY} via ${env.ifname} is missing`);
  if (!pod.routes.some((r) => r.dst === 'default' && r.gateway === GATEWAY)) throw fail(`default route via ${GATEWAY} is missing`);
}

/**
 * Releases every address this plugin made on this host (for this network) whose attachment is not
 * valid any more. Which ones is decided by the same core as `romana ipam check`'s leaks, and each goes
 * through the same conditional release: an address re-made since it was listed is kept.
 */
export async function gc({ conf, log }: Ctx): Promise<void> {
  const api = apiOf(conf);
  const mine = await api.addresses(hostOf(conf));
  await sendOthers(conf, api, log);
  const byName = new Map(mine.map((a) => [a.name, a]));
  const { findings } = findLeaks(mine, attachmentLiveness(conf.validAttachments ?? [], PLUGIN, conf.name));
  const failures: string[] = [];
  for (const f of findings) {
    const a = byName.get(f.subject)!;
    try {
      await deleteHostLink(hostVethName(a.attributes!.container_id, a.attributes!.ifname));
      const r = await api.releaseIfUnchanged(a);
      log.info('GC released', { name: a.name, ip: a.ip, already: r === undefined });
    } catch (e) {
      if (e instanceof RomanaError && e.kind === 'conflict') log.info('GC kept an address made again since it was listed', { name: a.name });
      else failures.push(`${a.name}: ${(e as Error).message}`);
    }
  }
  if (failures.length) throw cniError(Code.tryAgainLater, `GC could not release ${failures.length} address(es)`, failures.join('; '));
}

/** 50 when romanad cannot be reached (the plugin cannot service ADD). */
export async function status({ conf }: Ctx): Promise<void> {
  try {
    await apiOf(conf).healthz(3000);
  } catch (e) {
    throw cniError(Code.notAvailable, `romanad at ${conf.romanaApi} is not reachable`, (e as Error).message);
  }
}

export const versionResult = () => ({ cniVersion: LATEST, supportedVersions: [...SUPPORTED_VERSIONS] });
