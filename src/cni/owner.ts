// Who owns an attachment (tenant, segment) and which address it asks for. Every source the plugin reads
// is listed here, strongest first; this is the one place that decides the order (docs/cni.md shows it).
import { tryParseIp } from '../core/net/ipv4.js';
import type { Env, NetConf } from './config.js';
import { Code, cniError } from './spec.js';

/** One place a value may come from: its name (for messages and logs) and the value, if set there. */
export interface Source { from: string; value?: string }

/**
 * Tenant: the runtime's explicit words (Kubernetes' namespace, ROMANA_TENANT) win, then the
 * conventional `args.cni` and `runtimeConfig`, then the network configuration's default.
 */
export function tenantSources(env: Env, conf: NetConf): Source[] {
  const a = env.args;
  return [
    { from: 'CNI_ARGS K8S_POD_NAMESPACE', value: a.K8S_POD_NAMESPACE },
    { from: 'CNI_ARGS ROMANA_TENANT', value: a.ROMANA_TENANT },
    { from: 'args.cni.tenant', value: conf.argsCni.tenant },
    { from: 'runtimeConfig.tenant', value: conf.runtime.tenant },
    { from: 'network configuration tenant', value: conf.tenant },
  ];
}

/**
 * Segment, before the pod's labels as romanad knows them (looked up only when none of these is set):
 * ROMANA_SEGMENT, then the segment label handed over by the runtime.
 */
export function explicitSegmentSources(env: Env, conf: NetConf): Source[] {
  return [
    { from: 'CNI_ARGS ROMANA_SEGMENT', value: env.args.ROMANA_SEGMENT },
    { from: `label ${conf.segmentLabel}`, value: conf.labels[conf.segmentLabel] },
  ];
}

/** Segment after the pod-label lookup: `args.cni`, `runtimeConfig`, then the network configuration's default. */
export function defaultSegmentSources(conf: NetConf): Source[] {
  return [
    { from: 'args.cni.segment', value: conf.argsCni.segment },
    { from: 'runtimeConfig.segment', value: conf.runtime.segment },
    { from: 'network configuration segment', value: conf.segment },
  ];
}

export const first = (sources: Source[]): Source | undefined => sources.find((s) => s.value !== undefined && s.value !== '');

export interface Owner { tenant: string; segment?: string; from: { tenant: string; segment: string } }

/**
 * Resolves the owner. `podLabel` is the pod-label lookup (in romanad); it is asked only when the pod is a
 * Kubernetes pod and nothing stronger gave the segment. Without any segment romanad uses its default.
 */
export async function resolveOwner(env: Env, conf: NetConf, podLabel?: () => Promise<string | undefined>): Promise<Owner> {
  const tenant = first(tenantSources(env, conf));
  if (!tenant) noTenant();
  let segment = first(explicitSegmentSources(env, conf));
  if (!segment && podLabel) {
    const v = await podLabel();
    if (v) segment = { from: `pod label ${conf.segmentLabel} (romanad's pod metadata)`, value: v };
  }
  segment ??= first(defaultSegmentSources(conf));
  return {
    tenant: tenant!.value!,
    ...(segment ? { segment: segment.value } : {}),
    from: { tenant: tenant!.from, segment: segment?.from ?? "romanad's default segment" },
  };
}

/** The pod whose label romanad reads for the segment (POST /address `segment_from_pod`). */
export interface PodRef { namespace: string; name: string; label: string }

/**
 * The owner as one allocation request carries it: the same order as resolveOwner, but the pod-label
 * lookup is left to romanad (`segmentFromPod`), with `segment` (the weaker sources) as its fallback,
 * so that a Kubernetes pod's ADD needs one round trip, not two.
 */
export function ownerRequest(env: Env, conf: NetConf): Owner & { segmentFromPod?: PodRef } {
  const a = env.args;
  const tenant = first(tenantSources(env, conf));
  if (!tenant) return noTenant();
  const explicit = first(explicitSegmentSources(env, conf));
  const fallback = explicit ? undefined : first(defaultSegmentSources(conf));
  const pod = !explicit && a.K8S_POD_NAMESPACE && a.K8S_POD_NAME ? { namespace: a.K8S_POD_NAMESPACE, name: a.K8S_POD_NAME, label: conf.segmentLabel } : undefined;
  const segment = explicit ?? fallback;
  const otherwise = segment?.from ?? "romanad's default segment";
  return {
    tenant: tenant.value!,
    ...(segment ? { segment: segment.value } : {}),
    ...(pod ? { segmentFromPod: pod } : {}),
    from: { tenant: tenant.from, segment: pod ? `pod label ${conf.segmentLabel} (romanad's pod metadata), else ${otherwise}` : otherwise },
  };
}

/** The refusal when no source names a tenant. */
function noTenant(): never {
  throw cniError(Code.invalidEnv, 'no tenant: give K8S_POD_NAMESPACE or ROMANA_TENANT in CNI_ARGS, args.cni.tenant or runtimeConfig.tenant, or "tenant" in the network configuration');
}

/**
 * The address the runtime asks for, if any: `IP` in CNI_ARGS (podman's `--ip`), the `ips` capability
 * (`runtimeConfig.ips`) or `args.cni.ips`. Entries may carry a prefix length (the conventions' form);
 * the pod gets a /32 either way. Sources that disagree, more than one address, or anything that is not
 * IPv4 is refused: a request is never ignored.
 */
export function requestedIp(env: Env, conf: NetConf): { ip: string; from: string } | undefined {
  const given: { from: string; list: string[] }[] = [];
  if (env.args.IP) given.push({ from: 'CNI_ARGS IP', list: env.args.IP.split(',').map((s) => s.trim()).filter(Boolean) });
  if (conf.runtime.ips) given.push({ from: 'runtimeConfig.ips', list: conf.runtime.ips });
  if (conf.argsCni.ips) given.push({ from: 'args.cni.ips', list: conf.argsCni.ips });
  let out: { ip: string; from: string } | undefined;
  for (const g of given) {
    if (g.list.length > 1) throw cniError(Code.invalidConfig, `${g.from}: romana gives one IPv4 address per interface, ${g.list.length} were requested (${g.list.join(', ')})`);
    const raw = g.list[0];
    const m = /^([^/]+)(?:\/(\d{1,2}))?$/.exec(raw);
    const ip = m ? tryParseIp(m[1]) : undefined;
    if (!m || ip === undefined || (m[2] !== undefined && Number(m[2]) > 32)) {
      throw cniError(Code.invalidConfig, `${g.from}: '${raw}' is not an IPv4 address${raw.includes(':') ? ' (romana gives IPv4 addresses only)' : ''}`);
    }
    if (out && out.ip !== m[1]) throw cniError(Code.invalidConfig, `requested addresses disagree: ${out.from} asks for ${out.ip}, ${g.from} for ${m[1]}`);
    out ??= { ip: m[1], from: g.from };
  }
  return out;
}
