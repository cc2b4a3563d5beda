// `romana topology apply|show` with routing settings and `romana bgp config --router`, as a user runs
// them against a real romanad; the rendered configuration passes BIRD's own parser.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { BIN, type Romanad, startRomanad } from '../helpers/romanad.js';

let d: Romanad;
let dir: string;
const romana = (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN('romana'), '--api', d.url, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const ok = (...args: string[]) => {
  const r = romana(...args);
  assert.equal(r.code, 0, `romana ${args.join(' ')}: ${r.err}`);
  return r.out;
};

const TOPOLOGY = `
networks: [{name: pods, cidr: 10.240.0.0/16, block_mask: 28}]
topologies:
  - networks: [pods]
    map:
      - name: dc
        routing: {type: bgp, peers: [{name: spine, ip: 192.168.200.254, asn: 65000}]}
        groups:
          - name: rack-1
            assignment: {rack: r1}
            routing:
              type: bgp
              asn: 65001
              announce: aggregate
              peers: [{name: tor-1, ip: 192.168.201.254, asn: 65101, uplink_ip: 192.168.200.1, password: s3cret}]
            groups: []
          - name: rack-2
            assignment: {rack: r2}
            routing: {type: bgp, asn: 65002, peers: [{name: tor-2, ip: 192.168.202.254, asn: 65102, uplink_ip: 192.168.200.2}]}
            groups: []
`;

before(async () => {
  d = await startRomanad();
  dir = mkdtempSync(join(tmpdir(), 'romana-cli-bgp-'));
});
after(async () => {
  await d.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('romana bgp config', () => {
  it('topology apply keeps the routing settings and topology show shows them', () => {
    writeFileSync(join(dir, 't.yaml'), TOPOLOGY);
    ok('topology', 'apply', '-f', join(dir, 't.yaml'));
    ok('host', 'add', 'h1', '--ip', '192.168.201.1', '--label', 'rack=r1');
    ok('host', 'add', 'h2', '--ip', '192.168.201.2', '--label', 'rack=r1');
    ok('host', 'add', 'h3', '--ip', '192.168.202.1', '--label', 'rack=r2');
    const shown = YAML.parse(ok('-o', 'yaml', 'topology', 'show'));
    const rack1 = shown.topologies[0].map[0].groups[0];
    assert.deepEqual(rack1.routing.peers[0], { name: 'tor-1', ip: '192.168.201.254', asn: 65101, uplink_ip: '192.168.200.1', password: 's3cret' });
    assert.equal(rack1.routing.announce, 'aggregate');
    assert.equal(shown.topologies[0].map[0].routing.type, 'bgp');
  });

  it('refuses a contradictory setting, naming the field, and keeps the old topology', () => {
    writeFileSync(join(dir, 'bad.yaml'), TOPOLOGY.replace('announce: aggregate', 'announce: aggregate\n              route_table: rtb-1'));
    const r = romana('topology', 'apply', '-f', join(dir, 'bad.yaml'));
    assert.notEqual(r.code, 0);
    assert.match(r.err, /topologies\[0\]\.map\[0\]\.groups\[0\]\.routing\.route_table: does not apply to bgp routing/);
    assert.equal(YAML.parse(ok('-o', 'yaml', 'topology', 'show')).topologies[0].map[0].groups[0].routing.announce, 'aggregate');
  });

  it('renders a top-of-rack router: its hosts, its spine, the aggregate upwards; BIRD parses it', () => {
    const text = ok('bgp', 'config', '--router', 'tor-1', '--hold-time', '6');
    assert.match(text, /router id 192\.168\.201\.254;/);
    assert.match(text, /neighbor 192\.168\.201\.1 as 65001;/);
    assert.match(text, /neighbor 192\.168\.201\.2 as 65001;/);
    assert.doesNotMatch(text, /192\.168\.202\.1 /, 'rack-2\'s host is not tor-1\'s neighbour');
    assert.match(text, /local 192\.168\.200\.1 as 65101;\n {2}neighbor 192\.168\.200\.254 as 65000;/);
    assert.match(text, /password "s3cret";/);
    assert.match(text, /hold time 6;/);
    writeFileSync(join(dir, 'tor-1.conf'), text);
    const p = spawnSync('bird', ['-p', '-c', join(dir, 'tor-1.conf')], { encoding: 'utf8' });
    assert.equal(p.status, 0, p.stderr);
  });

  it('renders the spine, in JSON too', () => {
    const j = JSON.parse(ok('-o', 'json', 'bgp', 'config', '--router', 'spine'));
    assert.deepEqual(j.neighbors.map((n: { ip: string; asn: number }) => [n.ip, n.asn]), [['192.168.200.1', 65101], ['192.168.200.2', 65102]]);
    assert.match(j.config, /import filter \{ if net ~ \[ 10\.240\.0\.0\/17 \] then accept; reject; \};/);
  });

  it('an unknown router is an error that lists the known ones', () => {
    const r = romana('bgp', 'config', '--router', 'tor-9');
    assert.equal(r.code, 1);
    assert.match(r.err, /not_found: router 'tor-9' is not a peer of any bgp group \(routers: spine, tor-1, tor-2\)/);
    assert.notEqual(romana('bgp', 'config', '--router', 'tor-1', '--hold-time', '1').code, 0);
  });
});
