// The key layout of romanad's state. Everything is keyed finely, so that a change touches only the
// keys it is about and concurrent writers rarely meet:
//
//   /romana/topology                          {document, placements}  (written on topology and host changes)
//   /romana/hosts/<host>                      HostRecord
//   /romana/host-ips/<ip>                     host name (keeps host IPs unique)
//   /romana/host-ids/<id>                     host name (keeps host IDs of layout networks unique)
//   /romana/layout/<network>/tenants/<tenant>                 {id, segments}  (layout networks only)
//   /romana/layout/<network>/tenant-ids/<id>                  tenant name (keeps tenant IDs unique)
//   /romana/layout/<network>/segments/<tenant>/<segment>      {id, blocks}
//   /romana/layout/<network>/segment-ids/<tenant>/<id>        segment name
//   /romana/groups/<network>/<group cidr>     GroupState: carving state of one leaf group in one network
//   /romana/blocks/<host>/<tenant>/<segment>/<network>/<block cidr>   BlockState
//   /romana/addresses/<name>                  AddressRecord
//   /romana/ips/<ip>                          address name (keeps IPs unique, finds a name by IP)
//   /romana/blackouts/<network>               [cidr]
//   /romana/ipam-retired                      ops of groups that a topology change dropped
//   /romana/policies/<id>                     a policy
//   /romana/namespaces/<name>                 {name, labels}  (tenants as Kubernetes namespaces)
//   /romana/pods/<namespace>/<name>           {namespace, name, labels, ports}  (endpoint metadata)
//   /romana/host-status/<host>                HostStatusRecord: the host agent's last report. Inside
//                                             /romana/ on purpose: every write moves the store-wide
//                                             revision, and agents (and whoever waits for them) count
//                                             a revision applied only once they have seen it.
import { type Cidr, cidrKey, ipKey } from '../core/net/ipv4.js';

const e = encodeURIComponent;
export const ROOT = '/romana/';
export const TOPOLOGY = '/romana/topology';
export const IPAM_RETIRED = '/romana/ipam-retired';

export const HOSTS = '/romana/hosts/';
export const hostKey = (name: string) => HOSTS + e(name);
export const hostIpKey = (ip: number) => `/romana/host-ips/${ipKey(ip)}`;
export const HOST_IDS = '/romana/host-ids/';
export const hostIdKey = (id: number) => HOST_IDS + ipKey(id);

export const LAYOUT = '/romana/layout/';
const layoutKey = (network: string) => `${LAYOUT}${e(network)}/`;
export const tenantIdsPrefix = (network: string) => `${layoutKey(network)}tenant-ids/`;
export const tenantKey = (network: string, tenant: string) => `${layoutKey(network)}tenants/${e(tenant)}`;
export const tenantIdKey = (network: string, id: number) => tenantIdsPrefix(network) + ipKey(id);
export const segmentIdsPrefix = (network: string, tenant: string) => `${layoutKey(network)}segment-ids/${e(tenant)}/`;
export const segmentKey = (network: string, tenant: string, segment: string) => `${layoutKey(network)}segments/${e(tenant)}/${e(segment)}`;
export const segmentIdKey = (network: string, tenant: string, id: number) => segmentIdsPrefix(network, tenant) + ipKey(id);

export const GROUPS = '/romana/groups/';
export const groupKey = (network: string, group: Cidr) => `${GROUPS}${e(network)}/${cidrKey(group)}`;

export const BLOCKS = '/romana/blocks/';
export const hostBlocksPrefix = (host: string) => `${BLOCKS}${e(host)}/`;
export const ownerBlocksPrefix = (host: string, tenant: string, segment: string, network: string) =>
  `${BLOCKS}${e(host)}/${e(tenant)}/${e(segment)}/${e(network)}/`;
export const blockKey = (host: string, tenant: string, segment: string, network: string, block: Cidr) =>
  ownerBlocksPrefix(host, tenant, segment, network) + cidrKey(block);

export const ADDRESSES = '/romana/addresses/';
export const addressKey = (name: string) => ADDRESSES + e(name);
export const IPS = '/romana/ips/';
export const ipIndexKey = (ip: number) => IPS + ipKey(ip);

export const BLACKOUTS = '/romana/blackouts/';
export const blackoutKey = (network: string) => BLACKOUTS + e(network);

export const POLICIES = '/romana/policies/';
export const policyKey = (id: string) => POLICIES + e(id);

export const NAMESPACES = '/romana/namespaces/';
export const namespaceKey = (name: string) => NAMESPACES + e(name);
export const PODS = '/romana/pods/';
export const podKey = (namespace: string, name: string) => `${PODS}${e(namespace)}/${e(name)}`;

export const HOST_STATUS = '/romana/host-status/';
export const hostStatusKey = (host: string) => HOST_STATUS + e(host);
