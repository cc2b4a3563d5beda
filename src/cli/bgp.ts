// `romana bgp config --router NAME`: the BIRD 2 configuration of a top-of-rack or spine router, from
// the topology romanad holds (its groups' routing settings and the hosts placed in them).
import { type Command, InvalidArgumentError, Option } from 'commander';
import { routerBgp } from '../core/routing/bgp.js';
import { renderRouterConfig, timersFromHoldTime } from '../core/routing/bird.js';
import { readShownTopology } from '../core/routing/shown.js';
import { routingOf } from '../core/routing/topology.js';
import type { CliContext } from './context.js';

const seconds = (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 3 || n > 65535) throw new InvalidArgumentError('must be a number of seconds from 3 to 65535');
  return n;
};

export function registerBgpCommands(program: Command, ctx: CliContext): void {
  const bgp = program.command('bgp').description('BGP along the topology');
  bgp.command('config').description('BIRD 2 configuration of a top-of-rack or spine router, rendered from the topology (apply it to the router)')
    .requiredOption('--router <name>', 'the router: its name or address as a peer in the topology')
    .addOption(new Option('--hold-time <seconds>', 'BGP hold time (keepalive and retries follow); default: BIRD\'s').argParser(seconds))
    .action(async (o: { router: string; holdTime?: number }) => {
      const out = ctx.out(['table', 'json', 'yaml']);
      const { layout, hosts } = readShownTopology(await ctx.client().get('/topology'));
      const r = routerBgp(layout, routingOf(layout), o.router, hosts);
      const config = renderRouterConfig(r, { timers: o.holdTime ? timersFromHoldTime(o.holdTime) : undefined });
      out.document({ router: r.router, asn: r.asn, groups: r.groups, neighbors: r.sessions.map((s) => ({ ip: s.neighbor, asn: s.peerAsn, description: s.description })), config }, () => config, [`router/${r.router}`]);
    });
}
