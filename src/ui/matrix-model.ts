// The reachability matrix's model, from POST /policies/simulate: one grid per port/protocol, by pod or
// by namespace. Pure.
export interface Result { from: string; to: string; port: number; protocol: string; allowed: boolean }
export interface Simulation {
  source: 'live' | 'file';
  revision?: number;
  results: Result[];
  endpoints: { pods: { key: string; namespace: string; name: string; ip: string; host?: string; ports: { name?: string; port: number; protocol: string }[] }[]; externals: { key: string; name: string; ip: string }[] };
  policies: { id: string; kind: string; object: Record<string, unknown> }[];
  problems: string[];
}

export interface Grid {
  port: string; // "80/TCP"
  rows: string[];
  cols: string[];
  /** `${row}\0${col}` → verdict (pods), or counts (namespaces). */
  cells: Map<string, { allowed: number; total: number }>;
}

export const portLabel = (r: { port: number; protocol: string }) => `${r.port}/${r.protocol}`;
const PROTO_ORDER = ['TCP', 'UDP', 'SCTP', 'ICMP'];

/** Namespace of an endpoint key: "ns/pod" → ns; externals ("ext/x") group as "externals". */
export const namespaceOf = (key: string, externals: Set<string>) => (externals.has(key) ? 'externals' : key.slice(0, key.indexOf('/')));

export function grids(sim: Simulation, by: 'pod' | 'namespace'): Grid[] {
  const externals = new Set(sim.endpoints.externals.map((e) => e.key));
  const order = new Map([...sim.endpoints.pods.map((p) => p.key), ...externals].map((k, i) => [k, i]));
  const byPort = new Map<string, Result[]>();
  for (const r of sim.results) {
    const k = portLabel(r);
    let l = byPort.get(k);
    if (!l) byPort.set(k, (l = []));
    l.push(r);
  }
  const ports = [...byPort.keys()].sort((a, b) => {
    const [pa, qa] = a.split('/');
    const [pb, qb] = b.split('/');
    return PROTO_ORDER.indexOf(qa) - PROTO_ORDER.indexOf(qb) || Number(pa) - Number(pb);
  });
  const key = (k: string) => (by === 'pod' ? k : namespaceOf(k, externals));
  const sortKeys = (ks: Set<string>) => [...ks].sort((a, b) => (by === 'pod' ? (order.get(a) ?? 0) - (order.get(b) ?? 0) : a === 'externals' ? 1 : b === 'externals' ? -1 : a < b ? -1 : 1));
  return ports.map((port) => {
    const rs = byPort.get(port)!;
    const rows = new Set<string>();
    const cols = new Set<string>();
    const cells = new Map<string, { allowed: number; total: number }>();
    for (const r of rs) {
      const [f, t] = [key(r.from), key(r.to)];
      rows.add(f);
      cols.add(t);
      const c = cells.get(`${f}\0${t}`) ?? { allowed: 0, total: 0 };
      c.total++;
      if (r.allowed) c.allowed++;
      cells.set(`${f}\0${t}`, c);
    }
    return { port, rows: sortKeys(rows), cols: sortKeys(cols), cells };
  });
}
