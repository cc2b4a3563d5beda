// The EC2 stand-in (src/lab/ec2-standin.ts) checked against the real AWS SDK client: every call the
// route publisher makes, EC2's error codes as the SDK raises them, SigV4 signatures, and the
// configuration chain (endpoint, region and credentials from the environment).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CreateRouteCommand, DeleteRouteCommand, DescribeInstancesCommand, DescribeRouteTablesCommand, EC2Client, ReplaceRouteCommand,
} from '@aws-sdk/client-ec2';
import { Ec2Standin } from '../../src/lab/ec2-standin.js';

const TABLE = 'rtb-0a1b2c3d';
const config = () => ({
  accessKeyId: 'AKIASTANDIN00000001', secretAccessKey: 'standin-secret', vpcId: 'vpc-0standin', routeLimit: 4,
  routeTables: [{ id: TABLE, routes: [{ destination: '192.168.200.0/21', gatewayId: 'local', origin: 'CreateRouteTable' as const }] }],
  instances: [{ id: 'i-0000000000000001', privateIp: '192.168.201.1' }, { id: 'i-0000000000000002', privateIp: '192.168.201.2' }],
});

describe('EC2 stand-in, through @aws-sdk/client-ec2', () => {
  const standin = new Ec2Standin(config());
  let endpoint: string;
  let ec2: EC2Client;
  const saved = { ...process.env };
  before(async () => {
    endpoint = `http://127.0.0.1:${await standin.listen(0, '127.0.0.1')}`;
    // The usual configuration chain, as the publisher gets it.
    Object.assign(process.env, { AWS_ENDPOINT_URL_EC2: endpoint, AWS_REGION: 'lab-1', AWS_ACCESS_KEY_ID: 'AKIASTANDIN00000001', AWS_SECRET_ACCESS_KEY: 'standin-secret' });
    ec2 = new EC2Client({ maxAttempts: 1 });
  });
  after(async () => {
    process.env = saved;
    ec2.destroy();
    await standin.close();
  });
  const routes = async () => (await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [TABLE] }))).RouteTables![0].Routes!.map((r) => [r.DestinationCidrBlock, r.InstanceId ?? r.GatewayId, r.State, r.Origin]);
  const fails = async (p: Promise<unknown>, code: string, re?: RegExp) => {
    await assert.rejects(p, (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(e.name, code);
      if (re) assert.match(e.message, re);
      return true;
    });
  };

  it('describes route tables and instances', async () => {
    assert.deepEqual(await routes(), [['192.168.200.0/21', 'local', 'active', 'CreateRouteTable']]);
    const r = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'private-ip-address', Values: ['192.168.201.2', '10.9.9.9'] }] }));
    assert.deepEqual(r.Reservations!.flatMap((x) => x.Instances!.map((i) => [i.InstanceId, i.PrivateIpAddress, i.State?.Name])), [['i-0000000000000002', '192.168.201.2', 'running']]);
    assert.deepEqual((await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'private-ip-address', Values: ['10.9.9.9'] }] }))).Reservations, []);
  });

  it('creates, replaces and deletes routes to instances', async () => {
    await ec2.send(new CreateRouteCommand({ RouteTableId: TABLE, DestinationCidrBlock: '10.240.0.0/18', InstanceId: 'i-0000000000000001' }));
    await ec2.send(new ReplaceRouteCommand({ RouteTableId: TABLE, DestinationCidrBlock: '10.240.0.0/18', InstanceId: 'i-0000000000000002' }));
    assert.deepEqual((await routes())[1], ['10.240.0.0/18', 'i-0000000000000002', 'active', 'CreateRoute']);
    await ec2.send(new DeleteRouteCommand({ RouteTableId: TABLE, DestinationCidrBlock: '10.240.0.0/18' }));
    assert.equal((await routes()).length, 1);
  });

  it('answers with EC2\'s error codes', async () => {
    await ec2.send(new CreateRouteCommand({ RouteTableId: TABLE, DestinationCidrBlock: '10.240.0.0/18', InstanceId: 'i-0000000000000001' }));
    await fails(ec2.send(new CreateRouteCommand({ RouteTableId: TABLE, DestinationCidrBlock: '10.240.0.0/18', InstanceId: 'i-0000000000000001' })), 'RouteAlreadyExists', /10\.240\.0\.0\/18 already exists/);
    await fails(ec2.send(new ReplaceRouteCommand({ RouteTableId: TABLE, DestinationCidrBlock: '10.240.64.0/18', InstanceId: 'i-0000000000000001' })), 'InvalidParameterValue', /no route defined/);
    await fails(ec2.send(new DeleteRouteCommand({ RouteTableId: TABLE, DestinationCidrBlock: '10.240.64.0/18' })), 'InvalidRoute.NotFound');
    await fails(ec2.send(new CreateRouteCommand({ RouteTableId: 'rtb-0nope', DestinationCidrBlock: '10.240.64.0/18', InstanceId: 'i-0000000000000001' })), 'InvalidRouteTableID.NotFound');
    await fails(ec2.send(new CreateRouteCommand({ RouteTableId: TABLE, DestinationCidrBlock: '10.240.64.0/18', InstanceId: 'i-0000000000000009' })), 'InvalidInstanceID.NotFound');
    await fails(ec2.send(new CreateRouteCommand({ RouteTableId: TABLE, DestinationCidrBlock: '10.240.64.0/33', InstanceId: 'i-0000000000000001' })), 'InvalidParameterValue');
    // The table holds 4 routes: the local route, 10.240.0.0/18, and two more.
    for (const d of ['10.240.64.0/18', '10.240.128.0/18']) await ec2.send(new CreateRouteCommand({ RouteTableId: TABLE, DestinationCidrBlock: d, InstanceId: 'i-0000000000000001' }));
    await fails(ec2.send(new CreateRouteCommand({ RouteTableId: TABLE, DestinationCidrBlock: '10.240.192.0/18', InstanceId: 'i-0000000000000001' })), 'RouteLimitExceeded');
    assert.equal((await routes()).length, 4);
  });

  it('refuses requests signed with other credentials, or not signed', async () => {
    const wrong = new EC2Client({ maxAttempts: 1, credentials: { accessKeyId: 'AKIASTANDIN00000001', secretAccessKey: 'not-it' } });
    await fails(wrong.send(new DescribeRouteTablesCommand({})), 'SignatureDoesNotMatch');
    const other = new EC2Client({ maxAttempts: 1, credentials: { accessKeyId: 'AKIAOTHER', secretAccessKey: 'standin-secret' } });
    await fails(other.send(new DescribeRouteTablesCommand({})), 'AuthFailure');
    wrong.destroy();
    other.destroy();
    const plain = await fetch(endpoint, { method: 'POST', body: 'Action=DescribeRouteTables&Version=2016-11-15', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(plain.status, 401);
    assert.match(await plain.text(), /<Code>AuthFailure<\/Code>/);
  });
});
