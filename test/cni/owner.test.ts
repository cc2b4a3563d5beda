// Pure: which tenant, segment and requested address the plugin takes from each source, and in what
// order (docs/cni.md, "Tenant and segment"). No namespaces, no romanad.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type NetConf, parseConfig, parseEnv } from '../../src/cni/config.js';
import { ownerRequest, requestedIp, resolveOwner } from '../../src/cni/owner.js';
import { CniError } from '../../src/cni/spec.js';

const envOf = (args: string) => parseEnv({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_ARGS: args });
const confOf = (extra: Record<string, unknown> = {}): NetConf =>
  parseConfig(JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'romana', romana_api: 'http://127.0.0.1:1', ...extra }), 'ADD');
const owner = (args: string, extra: Record<string, unknown> = {}, podLabel?: () => Promise<string | undefined>) => resolveOwner(envOf(args), confOf(extra), podLabel);

// Every source set at once; each case removes the strongest remaining one.
const ALL = {
  args: 'K8S_POD_NAMESPACE=kns;ROMANA_TENANT=rt;ROMANA_SEGMENT=rs',
  conf: {
    tenant: 'ct', segment: 'cs',
    args: { cni: { tenant: 'at', segment: 'as', labels: [{ key: 'romana.io/segment', value: 'ls' }] } },
    runtimeConfig: { tenant: 'rct', segment: 'rcs' },
  },
};

describe('tenant precedence', () => {
  const cases: [string, string, Record<string, unknown>, string, string][] = [
    ['K8S_POD_NAMESPACE wins over everything', ALL.args, ALL.conf, 'kns', 'CNI_ARGS K8S_POD_NAMESPACE'],
    ['then ROMANA_TENANT', 'ROMANA_TENANT=rt', ALL.conf, 'rt', 'CNI_ARGS ROMANA_TENANT'],
    ['then args.cni.tenant', 'IgnoreUnknown=1', ALL.conf, 'at', 'args.cni.tenant'],
    ['then runtimeConfig.tenant', '', { ...ALL.conf, args: {} }, 'rct', 'runtimeConfig.tenant'],
    ["then the network configuration's tenant", 'K8S_POD_NAME=p', { tenant: 'ct' }, 'ct', 'network configuration tenant'],
  ];
  for (const [what, args, conf, tenant, from] of cases) {
    it(what, async () => {
      const o = await owner(args, conf);
      assert.deepEqual([o.tenant, o.from.tenant], [tenant, from]);
    });
  }
  it('none at all: code 4, naming every source', async () => {
    await assert.rejects(owner('IgnoreUnknown=1;K8S_POD_NAME=c1'), (e: unknown) =>
      e instanceof CniError && e.code === 4 && /K8S_POD_NAMESPACE or ROMANA_TENANT.*args\.cni\.tenant.*runtimeConfig\.tenant.*"tenant" in the network configuration/.test(e.message));
  });
  it('a bad tenant in the configuration is code 7 naming the field', () => {
    assert.throws(() => confOf({ tenant: 'a b' }), (e: unknown) => e instanceof CniError && e.code === 7 && /^tenant 'a b'/.test(e.message));
    assert.throws(() => confOf({ args: { cni: { segment: 5 } } }), (e: unknown) => e instanceof CniError && e.code === 7 && /args\.cni\.segment must be a string/.test(e.message));
  });
});

describe('segment precedence', () => {
  const label = async () => 'ks';
  const cases: [string, string, Record<string, unknown>, (() => Promise<string>) | undefined, string | undefined, string][] = [
    ['ROMANA_SEGMENT wins over everything', ALL.args, ALL.conf, label, 'rs', 'CNI_ARGS ROMANA_SEGMENT'],
    ['then the segment label the runtime handed over', 'K8S_POD_NAMESPACE=kns', ALL.conf, label, 'ls', 'label romana.io/segment'],
    ["then the pod's label in romanad's pod metadata", 'K8S_POD_NAMESPACE=kns', { ...ALL.conf, args: { cni: { segment: 'as' } } }, label, 'ks', "pod label romana.io/segment (romanad's pod metadata)"],
    ['then args.cni.segment', 'K8S_POD_NAMESPACE=kns', { ...ALL.conf, args: { cni: { segment: 'as' } } }, undefined, 'as', 'args.cni.segment'],
    ['then runtimeConfig.segment', 'ROMANA_TENANT=rt', { segment: 'cs', runtimeConfig: { segment: 'rcs' } }, undefined, 'rcs', 'runtimeConfig.segment'],
    ["then the network configuration's segment", 'ROMANA_TENANT=rt', { segment: 'cs' }, undefined, 'cs', 'network configuration segment'],
    ["else none: romanad's default", 'ROMANA_TENANT=rt', {}, undefined, undefined, "romanad's default segment"],
  ];
  for (const [what, args, conf, podLabel, segment, from] of cases) {
    it(what, async () => {
      const o = await owner(args, conf, podLabel);
      assert.deepEqual([o.segment, o.from.segment], [segment, from]);
    });
  }
  it('romanad is not asked for the pod when a stronger source gave the segment', async () => {
    let asked = 0;
    await owner('K8S_POD_NAMESPACE=kns;ROMANA_SEGMENT=rs', {}, async () => `${++asked}`);
    assert.equal(asked, 0);
  });
});

describe('the owner as one request (romanad reads the pod label)', () => {
  const req = (args: string, extra: Record<string, unknown> = {}) => ownerRequest(envOf(args), confOf(extra));
  it('a Kubernetes pod with no stronger source: romanad is asked for its label, the weaker sources are the fallback', () => {
    const o = req('K8S_POD_NAMESPACE=kns;K8S_POD_NAME=web-1', { segment: 'cs', args: { cni: { segment: 'as' } }, segment_label_name: 'tier' });
    assert.deepEqual(o.segmentFromPod, { namespace: 'kns', name: 'web-1', label: 'tier' });
    assert.deepEqual([o.tenant, o.segment, o.from.segment], ['kns', 'as', "pod label tier (romanad's pod metadata), else args.cni.segment"]);
    const bare = req('K8S_POD_NAMESPACE=kns;K8S_POD_NAME=web-1');
    assert.deepEqual([bare.segment, bare.from.segment], [undefined, "pod label romana.io/segment (romanad's pod metadata), else romanad's default segment"]);
  });
  it('a stronger source decides alone: romanad is not asked', () => {
    for (const args of ['K8S_POD_NAMESPACE=kns;K8S_POD_NAME=w;ROMANA_SEGMENT=rs']) {
      const o = req(args);
      assert.deepEqual([o.segment, o.segmentFromPod, o.from.segment], ['rs', undefined, 'CNI_ARGS ROMANA_SEGMENT']);
    }
    const labelled = req('K8S_POD_NAMESPACE=kns;K8S_POD_NAME=w', { args: { cni: { labels: [{ key: 'romana.io/segment', value: 'ls' }] } } });
    assert.deepEqual([labelled.segment, labelled.segmentFromPod], ['ls', undefined]);
  });
  it('no pod name: the same answer as resolveOwner without a lookup; no tenant: the same refusal', async () => {
    for (const [args, conf] of [['ROMANA_TENANT=rt', { segment: 'cs', runtimeConfig: { segment: 'rcs' } }], ['K8S_POD_NAMESPACE=kns', ALL.conf]] as const) {
      const { segmentFromPod, ...o } = req(args, conf);
      assert.equal(segmentFromPod, undefined);
      assert.deepEqual(o, await owner(args, conf));
    }
    assert.throws(() => req('IgnoreUnknown=1'), (e: unknown) => e instanceof CniError && e.code === 4 && /no tenant/.test(e.message));
  });
});

describe('requested address', () => {
  const want = (args: string, extra: Record<string, unknown> = {}) => requestedIp(envOf(args), confOf(extra));
  const refused = (re: RegExp) => (e: unknown) => e instanceof CniError && e.code === 7 && re.test(e.message);
  it("podman's --ip (IP in CNI_ARGS), the ips capability (with a prefix length), args.cni.ips", () => {
    assert.deepEqual(want('IgnoreUnknown=1;K8S_POD_NAME=c1;IP=10.1.2.3'), { ip: '10.1.2.3', from: 'CNI_ARGS IP' });
    assert.deepEqual(want('', { runtimeConfig: { ips: ['10.1.2.3/24'] } }), { ip: '10.1.2.3', from: 'runtimeConfig.ips' });
    assert.deepEqual(want('', { args: { cni: { ips: ['10.1.2.3'] } } }), { ip: '10.1.2.3', from: 'args.cni.ips' });
    assert.equal(want('ROMANA_TENANT=t'), undefined);
  });
  it('sources that agree are one request; sources that disagree are refused', () => {
    assert.deepEqual(want('IP=10.1.2.3', { runtimeConfig: { ips: ['10.1.2.3/32'] } }), { ip: '10.1.2.3', from: 'CNI_ARGS IP' });
    assert.throws(() => want('IP=10.1.2.3', { args: { cni: { ips: ['10.1.2.4'] } } }), refused(/disagree: CNI_ARGS IP asks for 10\.1\.2\.3, args\.cni\.ips for 10\.1\.2\.4/));
  });
  it('more than one address, IPv6 or garbage: refused, never ignored', () => {
    assert.throws(() => want('IP=10.1.2.3,10.1.2.4'), refused(/one IPv4 address per interface, 2 were requested/));
    assert.throws(() => want('', { runtimeConfig: { ips: ['fd00::1/64'] } }), refused(/'fd00::1\/64' is not an IPv4 address \(romana gives IPv4 addresses only\)/));
    assert.throws(() => want('IP=10.1.2.300'), refused(/CNI_ARGS IP: '10\.1\.2\.300' is not an IPv4 address/));
    assert.throws(() => confOf({ runtimeConfig: { ips: '10.1.2.3' } }), refused(/runtimeConfig\.ips must be a list of strings/));
  });
});
