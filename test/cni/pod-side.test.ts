// The pod side is configured by one `ip -force -batch` whose `show` output is then checked: what the
// check accepts and what it names as missing (output as iproute2 6.1 prints it, taken from a real run).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { podSideProblems } from '../../src/cni/kernel.js';

const GOOD = `2: eth0    inet 10.9.9.9/32 scope global eth0\\       valid_lft forever preferred_lft forever
2: eth0@if5: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether fa:69:f3:94:33:5b brd ff:ff:ff:ff:ff:ff link-netnsid 0
default via 169.254.1.1 dev eth0
169.254.1.1 dev eth0 scope link
default via 169.254.1.1 dev eth0 onlink
10:	from all to 10.9.9.9 iif lo lookup 82
100:	from all lookup local
32766:	from all lookup main
32767:	from all lookup default
`;

describe('pod side check', () => {
  it('accepts a fully configured pod', () => {
    assert.deepEqual(podSideProblems(GOOD, 'eth0', '10.9.9.9'), []);
  });

  it('names each missing piece', () => {
    const drop = (re: RegExp) => GOOD.split('\n').filter((l) => !re.test(l)).join('\n');
    assert.deepEqual(podSideProblems(drop(/inet 10/), 'eth0', '10.9.9.9'), ['no 10.9.9.9/32 on eth0']);
    assert.deepEqual(podSideProblems(GOOD.replace(',UP,LOWER_UP', ''), 'eth0', '10.9.9.9'), ['no eth0 up']);
    assert.deepEqual(podSideProblems(drop(/onlink/), 'eth0', '10.9.9.9'), ['no default route via 169.254.1.1 in table 82']);
    assert.deepEqual(podSideProblems(drop(/^default via 169.254.1.1 dev eth0$/), 'eth0', '10.9.9.9'), ['no default route via 169.254.1.1']);
    assert.deepEqual(podSideProblems(GOOD.replace('100:\tfrom all lookup local', '0:\tfrom all lookup local'), 'eth0', '10.9.9.9'),
      ['no local table at priority 100', 'the local table still at priority 0']);
    assert.deepEqual(podSideProblems(GOOD, 'eth0', '10.9.9.8'), ['no 10.9.9.8/32 on eth0', 'no hairpin rule for 10.9.9.8']);
    assert.ok(podSideProblems(GOOD, 'eth1', '10.9.9.9').includes('no eth1 up'), 'another interface is not this one');
  });
});
