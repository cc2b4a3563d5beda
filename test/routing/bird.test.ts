// The BIRD configurations Romana writes and renders are accepted by BIRD's own parser (`bird -p`):
// a host's include (in a minimal bird.conf), and whole configurations of top-of-rack routers and a
// spine, with passwords, timers and both announce modes. Needs the bird2 package.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseProtocols, parseReply } from '../../src/agent/bgp/birdc.js';
import { hostBgp, routerBgp } from '../../src/core/routing/bgp.js';
import { renderHostInclude, renderRouterConfig, timersFromHoldTime } from '../../src/core/routing/bird.js';
import { routingOf } from '../../src/core/routing/topology.js';
import { parseTopology } from '../../src/core/topology/layout.js';

const doc = {
  networks: [{ name: 'pods', cidr: '10.240.0.0/16', block_mask: 28 }, { name: 'svc', cidr: '10.250.0.0/16' }],
  topologies: [{
    networks: ['pods', 'svc'],
    map: [{
      name: 'dc', routing: { type: 'bgp', peers: [{ name: 'spine', ip: '192.168.200.254', asn: 65000, password: 'sp!ne #1' }, { name: 'spine-b', ip: '192.168.200.253', asn: 65010 }] },
      groups: [
        { name: 'rack-1', routing: { type: 'bgp', asn: 65001, peers: [{ name: 'tor-1', ip: '192.168.201.254', asn: 65101, uplink_ip: '192.168.200.1', password: 'x' }] }, groups: [{ name: 'host-1', ip: '192.168.201.1' }, { name: 'host-2', ip: '192.168.201.2' }] },
        { name: 'rack-2', routing: { type: 'bgp', asn: 4200000002, announce: 'aggregate', peers: [{ name: 'tor-2', ip: '192.168.202.254', asn: 65102, uplink_ip: '192.168.200.2' }] }, groups: [{ name: 'host-3', ip: '192.168.202.3' }] },
      ],
    }],
  }],
};

describe('BIRD accepts what Romana renders (bird -p)', () => {
  let dir: string;
  before(() => {
    const r = spawnSync('sh', ['-c', 'command -v bird && command -v birdc'], { encoding: 'utf8' });
    assert.equal(r.status, 0, 'bird2 is not installed (make test installs it: apt-get install bird2)');
    dir = mkdtempSync(join(tmpdir(), 'romana-bird-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const parse = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    const r = spawnSync('bird', ['-p', '-c', join(dir, name)], { encoding: 'utf8' });
    assert.equal(r.status, 0, `bird -p ${name}: ${r.stderr}\n${text}`);
  };
  const l = parseTopology(doc);
  const routing = routingOf(l);
  const placed = [...l.listedHosts.values()].map((x) => ({ name: x.host.name, ip: x.host.ip, leaves: [x.leaf] }));

  for (const timers of [undefined, timersFromHoldTime(3)]) {
    const tag = timers ? 'fast timers' : 'BIRD\'s timers';
    it(`hosts' includes, both announce modes, empty (${tag})`, () => {
      const blocks = [{ cidr: '10.240.0.0/28', network: 'pods', tenant: 't', segment: 's' }, { cidr: '10.250.0.0/29', network: 'svc' }];
      const h1 = hostBgp(l, routing, { name: 'host-1', ip: '192.168.201.1' }, ['0:0.0'], blocks);
      assert.equal(h1.announce.length, 4, 'two blocks and the two aggregates (one per network)');
      const h3 = hostBgp(l, routing, { name: 'host-3', ip: '192.168.202.3' }, ['0:0.1'], [{ cidr: '10.240.128.0/28', network: 'pods' }]);
      for (const [n, h] of [['h1', h1], ['h3', h3], ['none', undefined]] as const) {
        writeFileSync(join(dir, `${n}.inc`), renderHostInclude(h, n, { kernelTable: 82, timers }));
        // Next to an operator's own protocols and tables, as a real bird.conf would have them.
        parse(`${n}.conf`, `router id 192.168.201.1;\nprotocol device {}\nprotocol kernel { ipv4 { export all; }; }\ninclude "${join(dir, `${n}.inc`)}";\n`);
      }
    });
    it(`top-of-rack routers and spines (${tag})`, () => {
      for (const r of ['tor-1', 'tor-2', 'spine', '192.168.200.253']) parse(`${r}.conf`, renderRouterConfig(routerBgp(l, routing, r, placed), { timers }));
    });
  }

  it('a spine with routers above it originates its aggregate', () => {
    const nested = { ...doc, topologies: [{ ...doc.topologies[0], map: [{ name: 'region', routing: { type: 'bgp', peers: [{ name: 'core', ip: '192.168.100.1', asn: 64999 }] }, groups: doc.topologies[0].map }] }] };
    const ln = parseTopology(nested);
    const r = routerBgp(ln, routingOf(ln), 'spine', []);
    assert.deepEqual(r.originate.map((a) => a.prefix), ['10.240.0.0/16', '10.250.0.0/16'], 'dc is region\'s only group: all of each network');
    const text = renderRouterConfig(r);
    assert.match(text, /route 10\.240\.0\.0\/16 unreachable;/);
    parse('spine-nested.conf', text);
  });
});

describe('birdc -v replies', () => {
  it('splits codes and continuation lines', () => {
    const out = '0001 BIRD 2.0.12 ready.\n2002-Name       Proto      Table      State  Since         Info\n1002-device1    Device     ---        up     18:31:04.763  \n     romana_10_0_0_1 BGP        ---        up     18:31:05.100  Established   \n0000 \n';
    const lines = parseReply(out);
    assert.deepEqual(parseProtocols(lines).map((p) => [p.name, p.proto, p.state, p.info]), [['device1', 'Device', 'up', ''], ['romana_10_0_0_1', 'BGP', 'up', 'Established']]);
  });
});
