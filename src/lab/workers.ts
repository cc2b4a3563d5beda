// Small programs the lab runs inside namespaces: a pod's server, a prober, and a relay that lets the
// hosts reach romanad over the fabric.
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';

export interface PortSpec { port: number; protocol: 'TCP' | 'UDP' | 'SCTP' }

export function parsePorts(s: string): PortSpec[] {
  return s.split(',').filter(Boolean).map((p) => {
    const [port, proto] = p.split('/');
    return { port: Number(port), protocol: (proto ?? 'TCP').toUpperCase() as PortSpec['protocol'] };
  });
}

/** A pod's server: accepts TCP connections and answers UDP datagrams on each port. */
export function serve(ports: PortSpec[], bind = '0.0.0.0'): void {
  for (const p of ports) {
    if (p.protocol === 'TCP') {
      createServer((s) => {
        s.on('error', () => undefined); // a prober may reset the connection as soon as it is accepted
        s.end('ok\n');
      }).on('error', (e) => console.error(`tcp ${p.port}: ${e.message}`)).listen(p.port, bind);
    } else if (p.protocol === 'UDP') {
      const u = createSocket('udp4');
      u.on('message', (_m, rinfo) => u.send('ok\n', rinfo.port, rinfo.address));
      u.on('error', (e) => console.error(`udp ${p.port}: ${e.message}`));
      u.bind(p.port, bind);
    }
  }
  console.log(`serving ${ports.map((p) => `${p.port}/${p.protocol}`).join(' ')}`);
}

export interface ProbeTarget { ip: string; port: number; protocol: string }

/** Tries each target once: TCP is allowed when the connection is accepted, UDP when a reply arrives. */
export async function probeAll(targets: ProbeTarget[], timeoutMs: number, bind?: string): Promise<boolean[]> {
  return Promise.all(targets.map((t) => (t.protocol === 'UDP' ? probeUdp(t, timeoutMs, bind) : t.protocol === 'TCP' ? probeTcp(t, timeoutMs, bind) : Promise.resolve(false))));
}

function probeTcp(t: ProbeTarget, timeoutMs: number, bind?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: t.ip, port: t.port, ...(bind ? { localAddress: bind } : {}) });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function probeUdp(t: ProbeTarget, timeoutMs: number, bind?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const u = createSocket('udp4');
    const done = (ok: boolean) => {
      clearTimeout(timer);
      u.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    u.once('message', () => done(true));
    u.once('error', () => done(false));
    u.bind(bind ? { address: bind } : {}, () => u.send('probe\n', t.port, t.ip));
  });
}

/** Forwards TCP connections on host:port to a unix socket (romanad's), byte for byte. */
export function relay(listen: string, socketPath: string): void {
  const [host, port] = [listen.slice(0, listen.lastIndexOf(':')), Number(listen.slice(listen.lastIndexOf(':') + 1))];
  createServer((client) => {
    const up = connect(socketPath);
    client.pipe(up).pipe(client);
    const close = () => { client.destroy(); up.destroy(); };
    client.on('error', close);
    up.on('error', close);
  }).listen(port, host, () => console.log(`relaying ${listen} -> ${socketPath}`));
}
