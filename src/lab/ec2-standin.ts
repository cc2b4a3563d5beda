// A STAND-IN for the Amazon EC2 API, for tests and the lab only: no EC2 can run here. It speaks the
// EC2 Query protocol (form-encoded POST, XML answers, API version 2016-11-15) for exactly the calls the
// route publisher makes (DescribeRouteTables, CreateRoute, ReplaceRoute, DeleteRoute,
// DescribeInstances), checks each request's SigV4 signature against its one access key, and answers
// with EC2's error codes (RouteAlreadyExists, RouteLimitExceeded, InvalidRoute.NotFound, ...).
// test/routing/ec2-standin.test.ts drives it with the real @aws-sdk/client-ec2.
//
// With `applyKernel` it also mirrors its route tables into the kernel of the namespace it runs in
// (routes to instances become `via <the instance's private IP> proto 84`): the lab's VPC router then
// routes exactly what the publisher asked for.
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import { formatCidr, tryParseCidr } from '../core/net/ipv4.js';
import { ipBatch, must } from './kernel.js';
import { VPC_PROTO } from './routes.js';

export interface StandinRoute { destination: string; instanceId?: string; gatewayId?: string; origin: 'CreateRouteTable' | 'CreateRoute' }
export interface StandinConfig {
  accessKeyId: string;
  secretAccessKey: string;
  vpcId: string;
  /** Routes each table may hold (AWS's default quota is 50). */
  routeLimit: number;
  routeTables: { id: string; routes: StandinRoute[] }[];
  instances: { id: string; privateIp: string }[];
}

class Ec2Error extends Error {
  constructor(readonly status: number, readonly code: string, message: string) { super(message); }
}

const NS = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const el = (name: string, body: string) => `<${name}>${body}</${name}>`;
const items = (name: string, xs: string[]) => el(name, xs.map((x) => el('item', x)).join(''));

/** Values of a list parameter: `Name.1`, `Name.2`, ... */
const list = (p: URLSearchParams, name: string) => {
  const out: string[] = [];
  for (let n = 1; p.has(`${name}.${n}`); n++) out.push(p.get(`${name}.${n}`)!);
  return out;
};

const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const hmac = (k: Buffer | string, s: string) => createHmac('sha256', k).update(s).digest();

/** AWS Signature Version 4 of a request, recomputed from what it says it signed. */
function checkSignature(req: IncomingMessage, body: string, c: StandinConfig): void {
  const auth = String(req.headers.authorization ?? '');
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) throw new Ec2Error(401, 'AuthFailure', 'AWS was not able to validate the provided access credentials');
  const [, key, day, region, service, signed, signature] = m;
  if (key !== c.accessKeyId) throw new Ec2Error(401, 'AuthFailure', 'AWS was not able to validate the provided access credentials');
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const payload = sha256(body);
  if (req.headers['x-amz-content-sha256'] && req.headers['x-amz-content-sha256'] !== payload) throw new Ec2Error(400, 'IncompleteSignature', 'the body does not match x-amz-content-sha256');
  const names = signed.split(';');
  const canonical = [
    req.method, (req.url ?? '/').split('?')[0], (req.url ?? '').split('?')[1] ?? '',
    ...names.map((h) => `${h}:${String(req.headers[h] ?? '').trim().replace(/\s+/g, ' ')}`), '', signed, payload,
  ].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const kDate = hmac(`AWS4${c.secretAccessKey}`, day);
  const expect = createHmac('sha256', hmac(hmac(hmac(kDate, region), service), 'aws4_request')).update(toSign).digest();
  if (!timingSafeEqual(expect, Buffer.from(signature, 'hex'))) throw new Ec2Error(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided');
}

export class Ec2Standin {
  private server?: Server;
  constructor(readonly config: StandinConfig, private readonly opts: { applyKernel?: boolean } = {}) {}

  private table(id: string | null) {
    const t = this.config.routeTables.find((x) => x.id === id);
    if (!t) throw new Ec2Error(400, 'InvalidRouteTableID.NotFound', `The routeTable ID '${id}' does not exist`);
    return t;
  }

  private destination(p: URLSearchParams): string {
    const d = p.get('DestinationCidrBlock') ?? '';
    const c = tryParseCidr(d, false);
    if (!c) throw new Ec2Error(400, 'InvalidParameterValue', `Value (${d}) for parameter destinationCidrBlock is invalid. This is not a valid CIDR block.`);
    return formatCidr(c);
  }

  private target(p: URLSearchParams): Pick<StandinRoute, 'instanceId' | 'gatewayId'> {
    const i = p.get('InstanceId');
    if (i) {
      if (!this.config.instances.some((x) => x.id === i)) throw new Ec2Error(400, 'InvalidInstanceID.NotFound', `The instance ID '${i}' does not exist`);
      return { instanceId: i };
    }
    const g = p.get('GatewayId');
    if (g) return { gatewayId: g };
    throw new Ec2Error(400, 'MissingParameter', 'The request must contain exactly one of gatewayId, instanceId, networkInterfaceId, ...');
  }

  /** One action: the XML body of its answer. */
  handle(p: URLSearchParams): string {
    const action = p.get('Action') ?? '';
    const ok = () => el('return', 'true');
    switch (action) {
      case 'DescribeRouteTables': {
        const ids = list(p, 'RouteTableId');
        const tables = ids.length ? ids.map((id) => this.table(id)) : this.config.routeTables;
        return items('routeTableSet', tables.map((t) => el('routeTableId', t.id) + el('vpcId', this.config.vpcId) + items('routeSet', t.routes.map((r) =>
          el('destinationCidrBlock', esc(r.destination)) + (r.gatewayId ? el('gatewayId', esc(r.gatewayId)) : '') +
          (r.instanceId ? el('instanceId', r.instanceId) : '') + el('state', 'active') + el('origin', r.origin)))));
      }
      case 'CreateRoute': {
        const t = this.table(p.get('RouteTableId'));
        const d = this.destination(p);
        const target = this.target(p);
        if (t.routes.some((r) => r.destination === d)) throw new Ec2Error(400, 'RouteAlreadyExists', `The route identified by ${d} already exists.`);
        if (t.routes.length >= this.config.routeLimit) throw new Ec2Error(400, 'RouteLimitExceeded', 'The maximum number of routes has been reached.');
        t.routes.push({ destination: d, ...target, origin: 'CreateRoute' });
        return ok();
      }
      case 'ReplaceRoute': {
        const t = this.table(p.get('RouteTableId'));
        const d = this.destination(p);
        const i = t.routes.findIndex((r) => r.destination === d);
        if (i < 0) throw new Ec2Error(400, 'InvalidParameterValue', `There is no route defined for '${d}' in the route table. Please use the create route API instead.`);
        t.routes[i] = { destination: d, ...this.target(p), origin: 'CreateRoute' };
        return ok();
      }
      case 'DeleteRoute': {
        const t = this.table(p.get('RouteTableId'));
        const d = this.destination(p);
        const i = t.routes.findIndex((r) => r.destination === d);
        if (i < 0) throw new Ec2Error(400, 'InvalidRoute.NotFound', `no route with destination-cidr-block ${d} in route table ${t.id}`);
        t.routes.splice(i, 1);
        return ok();
      }
      case 'DescribeInstances': {
        let xs = this.config.instances;
        const ids = list(p, 'InstanceId');
        if (ids.length) xs = xs.filter((x) => ids.includes(x.id));
        for (let n = 1; p.has(`Filter.${n}.Name`); n++) {
          const values = list(p, `Filter.${n}.Value`);
          const name = p.get(`Filter.${n}.Name`);
          if (name === 'private-ip-address') xs = xs.filter((x) => values.includes(x.privateIp));
          else if (name === 'instance-id') xs = xs.filter((x) => values.includes(x.id));
          else throw new Ec2Error(400, 'InvalidParameterValue', `The filter '${name}' is invalid`);
        }
        return items('reservationSet', xs.length ? [el('reservationId', 'r-0standin') + items('instancesSet', xs.map((x) =>
          el('instanceId', x.id) + el('privateIpAddress', x.privateIp) + el('vpcId', this.config.vpcId) + el('instanceState', el('code', '16') + el('name', 'running'))))] : []);
      }
      default:
        throw new Ec2Error(400, 'InvalidAction', `The action ${action} is not valid for this web service.`);
    }
  }

  listen(port: number, host: string): Promise<number> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const requestId = randomUUID();
        let action = '';
        try {
          if (req.method !== 'POST') throw new Ec2Error(400, 'InvalidAction', 'the EC2 Query API takes POST requests');
          checkSignature(req, body, this.config);
          const p = new URLSearchParams(body);
          action = p.get('Action') ?? '';
          const inner = this.handle(p);
          if (this.opts.applyKernel && /^(Create|Replace|Delete)Route$/.test(action)) this.applyKernel();
          res.writeHead(200, { 'content-type': 'text/xml;charset=UTF-8' });
          res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${NS}">${el('requestId', requestId)}${inner}</${action}Response>`);
        } catch (e) {
          const err = e instanceof Ec2Error ? e : new Ec2Error(500, 'InternalError', (e as Error).message);
          res.writeHead(err.status, { 'content-type': 'text/xml;charset=UTF-8' });
          res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${err.code}</Code><Message>${esc(err.message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`);
        }
      });
    });
    return new Promise((ok, fail) => {
      this.server!.once('error', fail).listen(port, host, () => ok((this.server!.address() as { port: number }).port));
    });
  }

  close(): Promise<void> {
    return new Promise((ok) => (this.server ? this.server.close(() => ok()) : ok()));
  }

  /** The kernel of this namespace routes what the tables route to instances: nothing more, nothing less. */
  applyKernel(): void {
    const ipOf = new Map(this.config.instances.map((i) => [i.id, i.privateIp]));
    const want = new Map<string, string>();
    for (const t of this.config.routeTables) for (const r of t.routes) if (r.instanceId && ipOf.has(r.instanceId)) want.set(r.destination, ipOf.get(r.instanceId)!);
    const have = JSON.parse(must('ip', ['-j', 'route', 'show', 'proto', VPC_PROTO]) || '[]') as { dst: string; gateway?: string }[];
    ipBatch(undefined, [
      ...have.filter((r) => !want.has(r.dst)).map((r) => `route del ${r.dst} proto ${VPC_PROTO}`),
      ...[...want].filter(([d, gw]) => !have.some((r) => r.dst === d && r.gateway === gw)).map(([d, gw]) => `route replace ${d} via ${gw} proto ${VPC_PROTO}`),
    ]);
  }
}
