// The plugin's pure parts: results per version, chaining, configuration and environment checks with
// their codes, and names. No namespaces needed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cniCodeOf } from '../../src/core/errors.js';
import { parseArgs, parseConfig, parseEnv } from '../../src/cni/config.js';
import { hostVethName, macsFor } from '../../src/cni/kernel.js';
import { addressName } from '../../src/cni/plugin.js';
import { CniError, type Result, merge, parseResult, render, toErrorResult } from '../../src/cni/spec.js';
import { RomanaError } from '../../src/core/errors.js';

const ours: Result = {
  interfaces: [{ name: 'rmn0', mac: 'ee:00:00:00:00:01', mtu: 1500 }, { name: 'eth0', mac: '0a:00:00:00:00:02', mtu: 1500, sandbox: '/run/netns/p' }],
  ips: [{ address: '10.0.0.5/32', gateway: '169.254.1.1', interface: 1 }],
  routes: [{ dst: '0.0.0.0/0', gw: '169.254.1.1' }],
};
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as CniError).code;
  }
  return 0;
};

describe('results per version', () => {
  it('0.4.0 carries ips[].version, 1.1.0 interfaces[].mtu, 1.0.0 neither', () => {
    const r4 = render(ours, '0.4.0') as { ips: { version?: string }[]; interfaces: { mtu?: number }[] };
    const r10 = render(ours, '1.0.0') as typeof r4;
    const r11 = render(ours, '1.1.0') as typeof r4;
    assert.deepEqual([r4.ips[0].version, r10.ips[0].version, r11.ips[0].version], ['4', undefined, undefined]);
    assert.deepEqual([r4.interfaces[1].mtu, r10.interfaces[1].mtu, r11.interfaces[1].mtu], [undefined, undefined, 1500]);
    assert.deepEqual(Object.keys(r11), ['cniVersion', 'interfaces', 'ips', 'routes']);
  });
  it('a previous result of any version reads back; ours is appended with shifted interface indexes', () => {
    const prev = parseResult({ cniVersion: '0.4.0', interfaces: [{ name: 'x0', sandbox: '/p' }], ips: [{ version: '4', address: '1.2.3.4/24', interface: 0 }], routes: [], dns: { nameservers: ['1.1.1.1'] } });
    const m = merge(prev, ours);
    assert.deepEqual(m.interfaces.map((i) => i.name), ['x0', 'rmn0', 'eth0']);
    assert.deepEqual(m.ips.map((i) => i.interface), [0, 2]);
    assert.deepEqual(m.dns, { nameservers: ['1.1.1.1'] });
    assert.equal(codeOf(() => parseResult([])), 6);
  });
  it('errors: CniError keeps its code, RomanaError kinds map through cniCodeOf, anything else is 999', () => {
    assert.equal(toErrorResult(new CniError(4, 'x'), '1.0.0').code, 4);
    assert.deepEqual([cniCodeOf('unavailable'), cniCodeOf('invalid'), cniCodeOf('no_available_ip'), cniCodeOf('internal')], [11, 7, 11, 999]);
    assert.equal(toErrorResult(new RomanaError('unavailable', 'down'), '1.1.0').code, 11);
    assert.deepEqual(Object.keys(toErrorResult(new Error('boom'), '1.1.0')), ['cniVersion', 'code', 'msg', 'details']);
  });
});

describe('configuration and environment', () => {
  const conf = (o: Record<string, unknown>) => JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'romana', romana_api: 'http://127.0.0.1:9600/', ...o });
  it('defaults: mtu 1500, segment label romana.io/segment, no trailing slash on the API URL', () => {
    const c = parseConfig(conf({}), 'ADD');
    assert.deepEqual([c.mtu, c.segmentLabel, c.romanaApi, c.host], [1500, 'romana.io/segment', 'http://127.0.0.1:9600', undefined]);
  });
  it('labels from runtimeConfig.labels (map or list) and args.cni.labels; runtimeConfig wins', () => {
    assert.deepEqual(parseConfig(conf({ runtimeConfig: { labels: { a: '1' } }, args: { cni: { labels: [{ key: 'a', value: '0' }, { key: 'b', value: '2' }] } } }), 'ADD').labels, { a: '1', b: '2' });
    assert.deepEqual(parseConfig(conf({ runtimeConfig: { labels: [{ key: 'x', value: 'y' }] } }), 'ADD').labels, { x: 'y' });
  });
  it('GC reads cni.dev/valid-attachments (and libcni\'s older cni.dev/attachments)', () => {
    assert.deepEqual(parseConfig(conf({ 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }] }), 'GC').validAttachments, [{ containerID: 'a', ifname: 'eth0' }]);
    assert.deepEqual(parseConfig(conf({ 'cni.dev/attachments': [{ containerID: 'b', ifname: 'eth1' }] }), 'GC').validAttachments, [{ containerID: 'b', ifname: 'eth1' }]);
    assert.equal(codeOf(() => parseConfig(conf({ 'cni.dev/valid-attachments': [{ containerID: 1 }] }), 'GC')), 7);
  });
  it('codes: 1 version, 2 field, 6 decoding, 7 config', () => {
    assert.equal(codeOf(() => parseConfig(conf({ cniVersion: '0.3.1' }), 'ADD')), 1);
    assert.equal(codeOf(() => parseConfig(conf({ cniVersion: '1.0.0' }), 'STATUS')), 1);
    assert.equal(codeOf(() => parseConfig(conf({ ipMasq: true }), 'ADD')), 2);
    assert.equal(codeOf(() => parseConfig(conf({ ipMasq: false }), 'ADD')), 0);
    // The kubeconfig of older versions: the pod's labels now come from romanad.
    assert.equal(codeOf(() => parseConfig(conf({ kubernetes: '/etc/cni/net.d/romana-kubeconfig' }), 'ADD')), 2);
    assert.throws(() => parseConfig(conf({ kubernetes: '/x' }), 'ADD'), /unsupported field kubernetes=.*no longer reads the Kubernetes API.*romana-listener/);
    assert.equal(codeOf(() => parseConfig('nope', 'ADD')), 6);
    assert.equal(codeOf(() => parseConfig(conf({ mtu: 20 }), 'ADD')), 7);
    assert.equal(codeOf(() => parseConfig(conf({ log_level: 'loud' }), 'ADD')), 7);
    assert.equal(codeOf(() => parseConfig(conf({ name: 'bad name' }), 'ADD')), 7);
  });
  it('environment: what each command needs, and CNI_ARGS', () => {
    assert.equal(parseEnv({ CNI_COMMAND: 'VERSION' }).command, 'VERSION');
    assert.equal(parseEnv({ CNI_COMMAND: 'GC' }).command, 'GC');
    assert.equal(parseEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c', CNI_IFNAME: 'eth0' }).netns, '');
    assert.equal(codeOf(() => parseEnv({ CNI_COMMAND: 'CHECK', CNI_CONTAINERID: 'c', CNI_IFNAME: 'eth0' })), 4);
    assert.equal(codeOf(() => parseEnv({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_IFNAME: '..', CNI_NETNS: '/x' })), 4);
    assert.deepEqual(parseArgs('IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;X=a=b;'), { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'ns', X: 'a=b' });
    assert.equal(codeOf(() => parseArgs('=x')), 4);
  });
});

describe('names', () => {
  it('host veth names fit the kernel\'s 15 characters and differ per attachment; MACs are unicast, locally administered', () => {
    const a = hostVethName('0123456789abcdef'.repeat(4), 'eth0');
    assert.equal(a.length, 15);
    assert.notEqual(a, hostVethName('0123456789abcdef'.repeat(4), 'net1'));
    const names = new Set(Array.from({ length: 5000 }, (_, i) => hostVethName(`c${i}`, 'eth0')));
    assert.equal(names.size, 5000);
    for (const m of Object.values(macsFor('c1', 'eth0'))) assert.equal(parseInt(m.slice(0, 2), 16) & 3, 2);
  });
  it('address names: cni:<id>:<ifname>, at most 253 characters for any container ID', () => {
    assert.equal(addressName('abc', 'eth0'), 'cni:abc:eth0');
    const long = addressName('x'.repeat(400), 'eth0');
    assert.ok(long.length <= 253);
    assert.notEqual(long, addressName('x'.repeat(399) + 'y', 'eth0'));
  });
});
