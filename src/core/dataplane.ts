// The agent's firewall backends, by name: shared by romana-agent (--dataplane) and `romana lab up`.
export const DATAPLANES = ['iptables', 'nftables'] as const;
export type DataplaneKind = (typeof DATAPLANES)[number];
/** Chosen by bench/dataplane (docs/benchmarks.md, Dataplane). */
export const DEFAULT_DATAPLANE: DataplaneKind = 'iptables';
/** Every pod's host-side interface starts with this (romana-cni names it); firewall rules match the prefix. */
export const POD_IFACE_PREFIX = 'rmn';
