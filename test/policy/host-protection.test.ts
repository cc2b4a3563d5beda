// Host protection's fail-safe ports in the compiled rules: packets run through ROMANA-INPUT/OUTPUT with
// the netfilter model. The kernel side is test/agent/host-protection.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RomanaError } from '../../src/core/errors.js';
import { compileHost, type CompiledHost, type CompileOptions } from '../../src/core/policy/compile.js';
import { DEFAULT_FAILSAFE, formatFailsafePorts, parseFailsafePorts } from '../../src/core/policy/failsafe.js';
import { Netfilter, type Packet } from './netfilter-model.js';
import { cluster3 } from './helpers.js';

const HOST_IP = '192.168.200.1';
const denyIn = { id: 'host-in', direction: 'ingress', applied_to: [{ peer: 'host' }], ingress: [] };
const denyOut = { id: 'host-out', direction: 'egress', applied_to: [{ peer: 'host' }], ingress: [] };
const sshOnlyFromAdmin = { id: 'host-ssh', direction: 'ingress', applied_to: [{ peer: 'host' }], ingress: [{ peers: [{ cidr: '192.168.100.0/24' }], rules: [{ protocol: 'tcp', ports: [8443] }] }] };

const compile = (policies: unknown[], opts?: CompileOptions) => compileHost(cluster3(policies), 'h1', opts);
const rulesOf = (o: CompiledHost, name: string) => o.tables.chains.find((c) => c.name === name)?.rules ?? [];
const inbound = (o: CompiledHost, port: number, proto: Packet['proto'] = 'tcp', extra: Partial<Packet> = {}) =>
  new Netfilter(o.iptables, o.ipset, [HOST_IP]).run('ROMANA-INPUT', { src: '192.168.200.254', dst: HOST_IP, proto, dport: port, ...extra });
const outbound = (o: CompiledHost, port: number, proto: Packet['proto'] = 'tcp', extra: Partial<Packet> = {}) =>
  new Netfilter(o.iptables, o.ipset, [HOST_IP]).run('ROMANA-OUTPUT', { src: HOST_IP, dst: '192.168.200.254', proto, dport: port, ...extra });

describe('fail-safe ports in the compiled host rules', () => {
  it('defaults: inbound 22, 9600, 9604, 2379-2380/tcp RETURN before the host policy jump; everything else is the policy\'s', () => {
    const o = compile([denyIn]);
    const input = rulesOf(o, 'ROMANA-INPUT');
    assert.deepEqual(input.slice(2), ['-j ROMANA-EGRESS', '-i lo -j RETURN', '-p tcp -m multiport --dports 22,2379:2380,9600,9604 -j RETURN', input[5]]);
    assert.match(input[5], /^-j ROMANA-EPI-/);
    for (const port of [22, 9600, 9604, 2379, 2380]) assert.equal(inbound(o, port), 'RETURN', `${port}/tcp is fail-safe`);
    for (const port of [21, 80, 2378, 2381, 9605]) assert.equal(inbound(o, port), 'DROP', `${port}/tcp is the policy's`);
    assert.equal(inbound(o, 22, 'udp'), 'DROP', 'the protocol matters');
    assert.equal(inbound(o, 8080, 'tcp', { state: 'ESTABLISHED' }), 'ACCEPT', 'replies to the host\'s own connections pass');
  });

  it('defaults: outbound DNS, DHCP, romanad and etcd RETURN before the host egress policy; replies pass', () => {
    const o = compile([denyOut]);
    assert.deepEqual(rulesOf(o, 'ROMANA-OUTPUT').slice(0, 4), [
      '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-o lo -j RETURN',
      '-p tcp -m multiport --dports 53,2379:2380,9600 -j RETURN', '-p udp -m multiport --dports 53,67 -j RETURN',
    ]);
    for (const [port, proto] of [[53, 'udp'], [53, 'tcp'], [67, 'udp'], [9600, 'tcp'], [2379, 'tcp'], [2380, 'tcp']] as const) assert.equal(outbound(o, port, proto), 'RETURN', `${port}/${proto}`);
    for (const [port, proto] of [[443, 'tcp'], [9604, 'tcp'], [68, 'udp'], [9600, 'udp']] as const) assert.equal(outbound(o, port, proto), 'DROP', `${port}/${proto}`);
    assert.equal(outbound(o, 443, 'tcp', { state: 'ESTABLISHED' }), 'ACCEPT');
    assert.equal(outbound(o, 443, 'tcp', { oif: 'lo', dst: '127.0.0.1' }), 'RETURN', 'loopback is exempt');
    assert.equal(inbound(o, 8080), 'RETURN', 'an egress policy leaves inbound alone');
  });

  it('a policy that allows one port keeps it open next to the fail-safes', () => {
    const o = compile([sshOnlyFromAdmin]);
    assert.equal(inbound(o, 8443, 'tcp', { src: '192.168.100.7' }), 'RETURN');
    assert.equal(inbound(o, 8443), 'DROP', 'from outside the admin network');
    assert.equal(inbound(o, 22), 'RETURN', 'ssh stays open to everyone');
  });

  it('fail-safes are no hole for isolated pods: their egress to the host is checked first', () => {
    const podDeny = { id: 'x-out', direction: 'egress', applied_to: [{ tenant: 'x' }], ingress: [] };
    const o = compile([denyIn, podDeny]);
    assert.equal(inbound(o, 22, 'tcp', { src: '10.1.0.10' }), 'DROP', 'an isolated pod on h1 cannot ssh into h1');
    assert.equal(inbound(o, 22, 'tcp', { src: '10.2.0.10' }), 'RETURN', 'a pod elsewhere is a host peer like any other');
  });

  it('without host policies there are no fail-safe rules (nothing of ours drops host traffic then)', () => {
    for (const opts of [undefined, { failsafe: { inbound: [{ protocol: 'TCP' as const, port: 1 }], outbound: [{ protocol: 'UDP' as const, port: 2 }] } }]) {
      const o = compile([{ id: 'x-in', direction: 'ingress', applied_to: [{ tenant: 'x' }], ingress: [] }], opts);
      assert.deepEqual(rulesOf(o, 'ROMANA-INPUT'), ['-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-m conntrack --ctstate INVALID -j DROP', '-j ROMANA-EGRESS']);
      assert.deepEqual(rulesOf(o, 'ROMANA-OUTPUT'), []);
    }
    // Only the direction that has a host policy gets its fail-safes.
    assert.doesNotMatch(rulesOf(compile([denyIn]), 'ROMANA-OUTPUT').join('\n'), /RETURN/);
    assert.doesNotMatch(rulesOf(compile([denyOut]), 'ROMANA-INPUT').join('\n'), /dports/);
  });

  it('custom lists replace the defaults, per side; protocols and ranges render in order', () => {
    const o = compile([denyIn, denyOut], { failsafe: {
      inbound: [{ protocol: 'UDP', port: 5000, endPort: 5010 }, { protocol: 'TCP', port: 2222 }, { protocol: 'SCTP', port: 9 }],
      outbound: [{ protocol: 'TCP', port: 8443 }],
    } });
    assert.deepEqual(rulesOf(o, 'ROMANA-INPUT').slice(4, 7), ['-p tcp -m tcp --dport 2222 -j RETURN', '-p udp -m udp --dport 5000:5010 -j RETURN', '-p sctp -m sctp --dport 9 -j RETURN']);
    assert.equal(inbound(o, 2222), 'RETURN');
    assert.equal(inbound(o, 5005, 'udp'), 'RETURN');
    assert.equal(inbound(o, 9, 'sctp'), 'RETURN');
    assert.equal(inbound(o, 22), 'DROP', 'not a default any more');
    assert.equal(outbound(o, 8443), 'RETURN');
    assert.equal(outbound(o, 53, 'udp'), 'DROP');

    const half = compile([denyIn, denyOut], { failsafe: { inbound: [] } });
    assert.equal(inbound(half, 22), 'DROP');
    assert.equal(outbound(half, 9600), 'RETURN', 'the side not given keeps its defaults');
  });

  it('empty lists emit no fail-safe rule at all (never a RETURN for every port)', () => {
    const o = compile([denyIn, denyOut], { failsafe: { inbound: [], outbound: [] } });
    assert.deepEqual(rulesOf(o, 'ROMANA-INPUT').slice(3, 5), ['-i lo -j RETURN', rulesOf(o, 'ROMANA-INPUT')[4]]);
    assert.match(rulesOf(o, 'ROMANA-INPUT')[4], /^-j ROMANA-EPI-/);
    assert.equal(rulesOf(o, 'ROMANA-INPUT').length, 5);
    assert.equal(rulesOf(o, 'ROMANA-OUTPUT').length, 3);
    for (const port of [22, 9600, 9604, 2379]) assert.equal(inbound(o, port), 'DROP');
    for (const [port, proto] of [[53, 'udp'], [9600, 'tcp']] as const) assert.equal(outbound(o, port, proto), 'DROP');
  });

  it('more ports than multiport takes split into several rules', () => {
    const ports = Array.from({ length: 20 }, (_, i) => ({ protocol: 'TCP' as const, port: 1000 + 2 * i }));
    const o = compile([denyIn], { failsafe: { inbound: ports } });
    const fs = rulesOf(o, 'ROMANA-INPUT').filter((r) => r.includes('--dports'));
    assert.equal(fs.length, 2);
    for (const p of ports) assert.equal(inbound(o, p.port), 'RETURN');
    assert.equal(inbound(o, 1001), 'DROP');
  });

  it('bad fail-safe entries given as data are refused, naming the entry', () => {
    const bad: [unknown, RegExp][] = [
      [{ protocol: 'TCP', port: 0 }, /failsafe\.inbound\[0\]: port 0 is not from 1 to 65535/],
      [{ protocol: 'ICMP', port: 8 }, /failsafe\.inbound\[0\]: the protocol must be TCP, UDP or SCTP/],
      [{ protocol: 'TCP', port: 90, endPort: 80 }, /failsafe\.inbound\[0\]: the range ends \(80\) before it starts \(90\)/],
      [{ protocol: 'TCP', port: 1.5 }, /port 1\.5 is not/],
    ];
    for (const [entry, re] of bad) {
      assert.throws(() => compile([denyIn], { failsafe: { inbound: [entry as never] } }), (e: unknown) => e instanceof RomanaError && e.kind === 'invalid' && re.test(e.message));
    }
  });
});

describe('parseFailsafePorts (the agent\'s --failsafe-inbound / --failsafe-outbound)', () => {
  it('reads ports, ranges and protocols (tcp when absent, any case); "none" and "" are empty', () => {
    assert.deepEqual(parseFailsafePorts('22/tcp, 2379-2380/TCP,53/udp,9,80-80/sctp', '--failsafe-inbound'), [
      { protocol: 'TCP', port: 22 }, { protocol: 'TCP', port: 2379, endPort: 2380 }, { protocol: 'UDP', port: 53 },
      { protocol: 'TCP', port: 9 }, { protocol: 'SCTP', port: 80 },
    ]);
    assert.deepEqual(parseFailsafePorts('none', '--failsafe-inbound'), []);
    assert.deepEqual(parseFailsafePorts(' NONE ', '--failsafe-inbound'), []);
    assert.deepEqual(parseFailsafePorts('', '--failsafe-outbound'), []);
  });

  it('the defaults are the documented ones, and format back to the same text', () => {
    assert.equal(formatFailsafePorts(DEFAULT_FAILSAFE.inbound), '22/tcp,9600/tcp,9604/tcp,2379-2380/tcp');
    assert.equal(formatFailsafePorts(DEFAULT_FAILSAFE.outbound), '53/udp,53/tcp,67/udp,9600/tcp,2379-2380/tcp');
    assert.equal(formatFailsafePorts([]), 'none');
  });

  it('bad values fail with an invalid error that names the flag and the entry', () => {
    const cases: [string, RegExp][] = [
      ['22/icmp', /'22\/icmp': the protocol must be tcp, udp or sctp, got 'icmp'/],
      ['ssh', /'ssh' is not PORT\[-END\]\/PROTO/],
      ['22/tcp,,80', /has an empty entry/],
      ['22/tcp,', /has an empty entry/],
      ['0/tcp', /'0\/tcp': port 0 is not from 1 to 65535/],
      ['70000/udp', /port 70000 is not from 1 to 65535/],
      ['2380-2379/tcp', /the range ends \(2379\) before it starts \(2380\)/],
      ['none,22/tcp', /'none' is not PORT/],
      ['22:23/tcp', /is not PORT\[-END\]/],
      ['-1/tcp', /is not PORT\[-END\]/],
    ];
    for (const [text, re] of cases) {
      for (const flag of ['--failsafe-inbound', '--failsafe-outbound']) {
        assert.throws(() => parseFailsafePorts(text, flag), (e: unknown) => {
          assert.ok(e instanceof RomanaError && e.kind === 'invalid', String(e));
          assert.ok(e.message.startsWith(`${flag}: `), e.message);
          assert.match(e.message, re);
          return true;
        }, text);
      }
    }
  });
});
