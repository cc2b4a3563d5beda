// The least a Node process can do a romana ADD in: the one POST /address (node:http, no checks) and
// the plugin's one kernel process (the same command, from src/cni/kernel.ts plumbCommand), the address
// handed to it as soon as romanad answers; nothing else. bench/cni runs it beside the plugin, so the
// gap between the two is the plugin's own code, and this process's time over `node -e 0` is what
// Node, one process start and the kernel's and romanad's work cost together.
const { spawn } = require('node:child_process');
const http = require('node:http');

const { url, body, ifname, command } = JSON.parse(process.env.FLOOR);
const req = http.request(`${url}/address`, {
  method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'idempotency-key': JSON.parse(body).name },
}, (res) => {
  let text = '';
  res.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => p.stdin.end(`${ifname} ${JSON.parse(text).ip}\n`));
});
req.end(body);
const p = spawn(command[0], command[1], { stdio: ['pipe', 'pipe', 'inherit'], env: { PATH: '/usr/sbin:/sbin:/usr/bin:/bin' } });
let out = '';
p.stdout.setEncoding('utf8').on('data', (d) => (out += d));
p.on('close', (code) => process.stdout.write(JSON.stringify({ code, veth: out.startsWith('veth\n') }) + '\n', () => process.exit(code ?? 1)));
