// BIRD 2 configuration text: the include file a host's agent owns, and a whole configuration for a
// top-of-rack or spine router. Pure. `bird -p` accepts both (test/routing/bird.test.ts).
import type { Announcement, HostBgp, RouterBgp, Session } from './bgp.js';

/** BGP timers in seconds; unset ones keep BIRD's defaults. */
export interface BgpTimers { holdTime?: number; keepaliveTime?: number; connectRetryTime?: number; errorWaitTime?: [number, number]; connectDelayTime?: number }

/** Timers that follow from a hold time (as the BGP RFC suggests, keepalive = hold / 3). */
export function timersFromHoldTime(hold: number): BgpTimers {
  const third = Math.max(1, Math.floor(hold / 3));
  return { holdTime: hold, keepaliveTime: third, connectRetryTime: third, errorWaitTime: [1, Math.max(2, hold)], connectDelayTime: 1 };
}

export const HOST_HEADER = '# romana-agent: BGP of host';

export interface HostIncludeOptions {
  /** Kernel table for the routes learned over BGP (the agent's own table). */
  kernelTable: number;
  timers?: BgpTimers;
}

const set = (patterns: string[]) => `[ ${[...new Set(patterns)].join(', ')} ]`;
// Names come from the topology: nothing in them may end a string or a comment line.
const quote = (s: string) => `"${s.replace(/[\x00-\x1f\x7f"\\]/g, '')}"`;
const comment = (s: string) => s.replace(/[\x00-\x1f\x7f]/g, ' ');

function timerLines(t: BgpTimers | undefined): string[] {
  if (!t) return [];
  const l: string[] = [];
  if (t.holdTime !== undefined) l.push(`hold time ${t.holdTime};`);
  if (t.keepaliveTime !== undefined) l.push(`keepalive time ${t.keepaliveTime};`);
  if (t.connectRetryTime !== undefined) l.push(`connect retry time ${t.connectRetryTime};`);
  if (t.connectDelayTime !== undefined) l.push(`connect delay time ${t.connectDelayTime};`);
  if (t.errorWaitTime) l.push(`error wait time ${t.errorWaitTime[0]}, ${t.errorWaitTime[1]};`);
  return l;
}

function filter(reject: string[], accept: string[] | 'static', staticProto: string): string {
  const parts: string[] = [];
  if (reject.length) parts.push(`if net ~ ${set(reject)} then reject;`);
  if (accept === 'static') parts.push(`if proto = ${quote(staticProto)} then accept;`);
  else if (accept.length) parts.push(`if net ~ ${set(accept)} then accept;`);
  parts.push('reject;');
  return `filter { ${parts.join(' ')} }`;
}

function bgpProtocol(s: Session, table: string | undefined, staticProto: string, timers?: BgpTimers, nextHopSelf = false): string[] {
  return [
    `protocol bgp ${s.protocol} {`,
    `  description ${quote(s.description)};`,
    `  local${s.localIp ? ` ${s.localIp}` : ''} as ${s.localAsn};`,
    `  neighbor ${s.neighbor} as ${s.peerAsn};`,
    ...(s.password ? [`  password ${quote(s.password)};`] : []),
    ...timerLines(timers).map((l) => `  ${l}`),
    '  ipv4 {',
    ...(table ? [`    table ${table};`] : []),
    // A router is the next hop of what it passes on, also on a segment shared with other routers.
    ...(nextHopSelf ? ['    next hop self;'] : []),
    `    import ${filter(s.importReject, s.importAccept, staticProto)};`,
    `    export ${filter(s.exportReject, s.exportAccept, staticProto)};`,
    '  };',
    '}',
  ];
}

const routeLines = (a: Announcement[], kind: 'blackhole' | 'unreachable') => a.map((x) => `  route ${x.prefix} ${kind}; # ${comment(x.why)}`);

/**
 * The include file of a host. Everything lives in a BIRD table of its own (romana4), so nothing of it
 * mixes with the operator's protocols: the host's announcements (static, never sent to the kernel),
 * one session per router, and a kernel protocol that puts what the routers send into the agent's table.
 */
export function renderHostInclude(h: HostBgp | undefined, host: string, o: HostIncludeOptions): string {
  const head = [
    `${HOST_HEADER} ${host}. Written by romana-agent; every change rewrites it, so do not edit.`,
    '# bird.conf includes it, and must set `router id` and run `protocol device`.',
  ];
  if (!h || h.sessions.length === 0) return [...head, '# This host announces nothing: its groups do not route by BGP.', ''].join('\n');
  return [
    ...head,
    comment(`# Groups: ${h.groups.join(', ')}.`),
    '',
    'ipv4 table romana4;',
    '',
    'protocol static romana_routes {',
    '  ipv4 { table romana4; };',
    ...routeLines(h.announce, 'blackhole'),
    '}',
    '',
    'protocol kernel romana_kernel {',
    `  kernel table ${o.kernelTable};`,
    '  ipv4 { table romana4; import none; export filter { if source = RTS_BGP then accept; reject; }; };',
    '}',
    ...h.sessions.flatMap((s) => ['', ...bgpProtocol(s, 'romana4', 'romana_routes', o.timers)]),
    '',
  ].join('\n');
}

export interface RouterConfigOptions {
  timers?: BgpTimers;
  /** Extra top-level lines (e.g. `log "file" all;`). */
  extra?: string[];
}

/** A whole BIRD configuration for a top-of-rack or spine router. */
export function renderRouterConfig(r: RouterBgp, o: RouterConfigOptions = {}): string {
  const kernelFilter = r.kernelReject.length
    ? `filter { if source != RTS_BGP then reject; if net ~ ${set(r.kernelReject)} then reject; accept; }`
    : 'filter { if source = RTS_BGP then accept; reject; }';
  return [
    `# BIRD 2 configuration of router ${r.router} (AS ${r.asn}), rendered by \`romana bgp config\` from the`,
    comment(`# Romana topology. Groups: ${r.groups.join(', ')}. Render it again when hosts or the topology change.`),
    `router id ${r.routerId};`,
    ...(o.extra ?? []),
    '',
    'protocol device { scan time 10; }',
    '',
    '# What BGP learned goes into the kernel.',
    `protocol kernel { ipv4 { import none; export ${kernelFilter}; }; }`,
    ...(r.originate.length ? ['', 'protocol static romana_aggregates {', '  ipv4;', ...routeLines(r.originate, 'unreachable'), '}'] : []),
    ...r.sessions.flatMap((s) => ['', ...bgpProtocol(s, undefined, 'romana_aggregates', o.timers, true)]),
    '',
  ].join('\n');
}
