// A byte pipe between two sockets, for tests: `node forward.mjs LISTEN CONNECT`, each side
// `tcp:HOST:PORT` or `unix:PATH`. A unix socket is a file, so it crosses network namespaces: a
// forwarder inside a lab namespace (tcp → unix) and one in the root namespace (unix → tcp 127.0.0.1)
// let agents in host namespaces reach a romanad or etcd listening on the root namespace's loopback.
import { rmSync } from 'node:fs';
import net from 'node:net';

const side = (s) => {
  if (s.startsWith('unix:')) return { path: s.slice(5) };
  const m = /^tcp:(.+):(\d+)$/.exec(s);
  if (!m) throw new Error(`bad address ${s}`);
  return { host: m[1], port: Number(m[2]) };
};
const [listen, connect] = process.argv.slice(2).map(side);
if (listen.path) rmSync(listen.path, { force: true });
const server = net.createServer((a) => {
  const b = net.connect(connect);
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  for (const s of [a, b]) {
    s.on('error', end);
    s.on('close', end);
  }
});
server.listen(listen, () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
