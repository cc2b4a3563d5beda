// The topology map: networks with their use, blackouts and free space; each topology's groups as
// nested boxes with their CIDRs; each host with its blocks, coloured by owner (tenant:segment) and
// filled to their use. Search finds an address, a pod or a host.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, get, listOf } from './api.js';
import {
  type Address, type Block, type Blackout, type GroupNode, type Hit, type Host, type HostNode, type MapModel, type MapNode, type TopologyDoc, type Use,
  buildModel, percent, search,
} from './model.js';

const fmt = (n: number) => n.toLocaleString('en-US');

function UseBar(props: { use: Use; label: string }) {
  const u = props.use;
  const text = `${props.label}: ${fmt(u.inBlocks)} of ${fmt(u.size)} addresses in blocks (${fmt(u.allocated)} allocated), ${fmt(u.blackedOut)} blacked out, ${fmt(u.free)} free`;
  return (
    <div class="usebar" role="img" aria-label={text} title={text}>
      <span class="seg used" style={{ width: `${(u.allocated / (u.size || 1)) * 100}%` }} />
      <span class="seg blocks" style={{ width: `${((u.inBlocks - u.allocated) / (u.size || 1)) * 100}%` }} />
      <span class="seg dark" style={{ width: `${(u.blackedOut / (u.size || 1)) * 100}%` }} />
    </div>
  );
}

function HostCard(props: { host: HostNode; hit?: Hit; open: boolean; onToggle: () => void }) {
  const h = props.host;
  const ref = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (props.hit) {
      ref.current?.scrollIntoView({ block: 'center' });
      ref.current?.focus();
    }
  }, [props.hit]);
  const use = `${fmt(h.allocated)}/${fmt(h.size)}`;
  return (
    <article class={`host${props.hit ? ' found' : ''}`} data-host={h.name} data-blocks={h.blocks.length}>
      <button ref={ref} type="button" class="host-head" aria-expanded={props.open} onClick={props.onToggle}>
        <span class="name">{h.name}</span> <span class="ip">{h.ip}</span>
        <span class="use" title="allocated / addresses in its blocks">{use} ({percent(h.allocated, h.size)}%)</span>
      </button>
      <div class="blocks" role="img" aria-label={`${h.blocks.length} blocks, ${use} addresses used`}>
        {h.blocks.map((b) => (
          <span key={b.cidr} class={`blk${props.hit?.block === b.cidr ? ' hit' : ''}`} data-cidr={b.cidr} title={`${b.cidr} · ${b.owner} · ${b.allocated_ip_count}/${b.size}`}
            style={{ '--c': b.color, '--u': `${percent(b.allocated_ip_count, b.size)}%` }} />
        ))}
      </div>
      {props.open && (
        <table class="detail">
          <caption>Blocks of {h.name}</caption>
          <thead><tr><th scope="col">Block</th><th scope="col">Network</th><th scope="col">Owner</th><th scope="col">Used</th></tr></thead>
          <tbody>
            {h.blocks.map((b) => (
              <tr key={b.cidr} class={props.hit?.block === b.cidr ? 'hit' : undefined}>
                <td>{b.cidr}</td><td>{b.network}</td><td><span class="swatch" style={{ '--c': b.color }} /> {b.owner}</td><td>{b.allocated_ip_count}/{b.size}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </article>
  );
}

function Group(props: { g: GroupNode; render: (n: MapNode) => preact.JSX.Element }) {
  const g = props.g;
  const cidrs = Object.entries(g.cidrs);
  return (
    <section class="group" aria-labelledby={g.id} data-group={g.label}>
      <header>
        <h3 id={g.id}>{g.label}</h3>
        <span class="cidrs">{cidrs.map(([n, c]) => (cidrs.length > 1 ? `${n} ${c}` : c)).join(' · ')}</span>
        {Object.keys(g.assignment).length > 0 && <span class="assign">{Object.entries(g.assignment).map(([k, v]) => `${k}=${v}`).join(', ')}</span>}
        {Object.entries(g.use).map(([n, u]) => <UseBar key={n} use={u} label={`group ${g.label} in ${n}`} />)}
      </header>
      <div class="members">{g.children.map(props.render)}</div>
    </section>
  );
}

export function MapView() {
  const [model, setModel] = useState<MapModel | undefined>();
  const [addresses, setAddresses] = useState<Address[]>([]);
  const [error, setError] = useState<string | undefined>();
  const [query, setQuery] = useState('');
  const [hits, setHits] = useState<Hit[] | undefined>();
  const [picked, setPicked] = useState<Hit | undefined>();
  const [open, setOpen] = useState<Set<string>>(new Set());

  useEffect(() => {
    const ctrl = new AbortController();
    (async () => {
      const [topo, blocks, blackouts, hosts] = await Promise.all([
        get<TopologyDoc>('/topology', ctrl.signal), get<unknown>('/blocks', ctrl.signal), get<unknown>('/blackouts', ctrl.signal), get<unknown>('/hosts', ctrl.signal),
      ]);
      setModel(buildModel({ networks: listOf(topo.networks, 'networks'), topologies: topo.topologies ?? [] }, listOf<Block>(blocks, 'blocks'), listOf<Blackout>(blackouts, 'blackouts'), listOf<Host>(hosts, 'hosts')));
      // Search needs the addresses; the map does not wait for them.
      setAddresses(listOf<Address>(await get<unknown>('/addresses', ctrl.signal), 'addresses'));
    })().catch((e) => !ctrl.signal.aborted && setError(e instanceof ApiError ? e.message : String(e)));
    return () => ctrl.abort();
  }, []);

  useEffect(() => {
    if (!model) return;
    // Marks the map's first paint for bench/ui (two frames: the one that renders it, the one after).
    requestAnimationFrame(() => requestAnimationFrame(() => performance.mark('romana:map-painted')));
  }, [model]);

  const byHost = useMemo(() => new Map<string, Hit>(picked?.host ? [[picked.host, picked]] : []), [picked]);
  if (error) return <section><h1>Topology map</h1><p class="error" role="alert">{error}</p></section>;
  if (!model) return <section><h1>Topology map</h1><p aria-live="polite">Loading…</p></section>;

  const toggle = (name: string) => setOpen((s) => {
    const n = new Set(s);
    if (!n.delete(name)) n.add(name);
    return n;
  });
  const render = (n: MapNode): preact.JSX.Element => n.kind === 'host'
    ? <HostCard key={`h:${n.name}`} host={n} hit={byHost.get(n.name)} open={open.has(n.name)} onToggle={() => toggle(n.name)} />
    : <Group key={n.id} g={n} render={render} />;
  const find = (e: Event) => {
    e.preventDefault();
    setHits(search(model, addresses, query));
  };
  const pick = (h: Hit) => {
    setPicked({ ...h });
    if (h.host && h.block) setOpen((s) => new Set(s).add(h.host!));
  };

  return (
    <section class="map" data-ready="true" data-hosts={model.hosts} data-blocks={model.blocks}>
      <h1>Topology map</h1>
      <form class="search" role="search" onSubmit={find}>
        <label for="q">Find an address, pod or host</label>
        <input id="q" type="search" value={query} placeholder="10.112.0.3, web/frontend-1, host-7" onInput={(e) => setQuery((e.target as HTMLInputElement).value)} />
        <button type="submit">Find</button>
      </form>
      <div class="results" aria-live="polite">
        {hits && hits.length === 0 && <p>Nothing matches “{query}”.</p>}
        {hits && hits.length > 0 && (
          <ul>
            {hits.map((h, i) => (
              <li key={i} class="hit-row" data-kind={h.kind}>
                <button type="button" class="link" onClick={() => pick(h)} disabled={!h.host}>{h.title}</button> <span class="detail-text">{h.detail}</span>
              </li>
            ))}
          </ul>
        )}
      </div>
      <p class="totals">{fmt(model.hosts)} hosts · {fmt(model.blocks)} blocks · {model.owners.length} owners</p>
      <table class="networks">
        <caption>Networks</caption>
        <thead><tr><th scope="col">Network</th><th scope="col">CIDR</th><th scope="col">Block size</th><th scope="col">Use</th><th scope="col">Free</th><th scope="col">Blackouts</th></tr></thead>
        <tbody>
          {model.networks.map((n) => (
            <tr key={n.name} data-network={n.name}>
              <th scope="row">{n.name}</th><td>{n.cidr}</td><td>{n.block_mask !== undefined ? `/${n.block_mask}` : ''}</td>
              <td><UseBar use={n.use} label={`network ${n.name}`} /></td><td>{fmt(n.use.free)} of {fmt(n.use.size)}</td>
              <td>{n.blackouts.length ? n.blackouts.join(', ') : 'none'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="legend" aria-label="Owners (tenant:segment)" role="group">
        <span class="legend-title">Owners:</span>
        {model.owners.map((o) => <span key={`${o.tenant}:${o.segment}`} class="owner"><span class="swatch" style={{ '--c': o.color }} />{o.tenant}:{o.segment || '(none)'}</span>)}
        <span class="owner"><span class="usebar-key key-used" />allocated</span>
        <span class="owner"><span class="usebar-key key-blocks" />in blocks</span>
        <span class="owner"><span class="usebar-key key-dark" />blacked out</span>
        <span class="owner"><span class="usebar-key key-free" />free</span>
      </div>
      {model.topologies.map((t, i) => (
        <section key={i} class="topology" aria-label={`Topology of ${t.networks.join(', ')}`}>
          <h2>Topology: {t.networks.join(', ')}</h2>
          <div class="members">{t.roots.map(render)}</div>
        </section>
      ))}
      {model.unplaced.length > 0 && (
        <section class="topology"><h2>Hosts in no topology</h2><div class="members">{model.unplaced.map(render)}</div></section>
      )}
    </section>
  );
}
