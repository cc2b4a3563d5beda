// The route publisher's EC2 adapter: the real AWS SDK client. Endpoint, region and credentials come
// from the SDK's usual chain (AWS_REGION, AWS_ENDPOINT_URL_EC2, AWS_ACCESS_KEY_ID, ~/.aws/config,
// instance roles, ...); the publisher sets none of them itself.
import {
  CreateRouteCommand, DeleteRouteCommand, DescribeInstancesCommand, DescribeRouteTablesCommand, EC2Client, ReplaceRouteCommand,
} from '@aws-sdk/client-ec2';
import type { TableRoute } from '../core/routing/vpc.js';

export class RouteTables {
  constructor(private readonly ec2 = new EC2Client({ maxAttempts: 3 })) {}

  async routes(table: string): Promise<TableRoute[]> {
    const r = await this.ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [table] }));
    return (r.RouteTables?.[0]?.Routes ?? [])
      .filter((x) => x.DestinationCidrBlock)
      .map((x) => ({ destination: x.DestinationCidrBlock!, ...(x.InstanceId ? { instanceId: x.InstanceId } : {}), ...(x.State ? { state: x.State } : {}) }));
  }

  async create(table: string, destination: string, instanceId: string): Promise<void> {
    await this.ec2.send(new CreateRouteCommand({ RouteTableId: table, DestinationCidrBlock: destination, InstanceId: instanceId }));
  }

  async replace(table: string, destination: string, instanceId: string): Promise<void> {
    await this.ec2.send(new ReplaceRouteCommand({ RouteTableId: table, DestinationCidrBlock: destination, InstanceId: instanceId }));
  }

  async delete(table: string, destination: string): Promise<void> {
    await this.ec2.send(new DeleteRouteCommand({ RouteTableId: table, DestinationCidrBlock: destination }));
  }

  /** Instance IDs by private IP (the hosts' addresses). */
  async instances(ips: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (ips.length === 0) return out;
    const r = await this.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'private-ip-address', Values: ips }] }));
    for (const res of r.Reservations ?? []) for (const i of res.Instances ?? []) if (i.PrivateIpAddress && i.InstanceId) out.set(i.PrivateIpAddress, i.InstanceId);
    return out;
  }

  close(): void {
    this.ec2.destroy();
  }
}
