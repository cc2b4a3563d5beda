// The reachability matrix: the probes of `romana policy simulate` (every pod and external to every pod
// port) over the live cluster or an uploaded cluster file, as one grid per port, by pod or by
// namespace. A pod cell opens `explain`'s reasons; the policies involved open their text.
import { useState } from 'preact/hooks';
import { stringify } from 'yaml';
import { ApiError, request } from './api.js';
import { type Grid, type Result, type Simulation, grids } from './matrix-model.js';

interface Direction { direction: string; endpoint: string; isolated: boolean; policies: string[]; allowed: boolean; allowedBy: { policy: string; rule: string; peer?: string; port?: string }[]; reason: string }
interface Explained extends Result { egress: Direction; ingress: Direction }

const n = (k: number, one: string, many = `${one}s`) => `${k} ${k === 1 ? one : many}`;
const describeCell = (from: string, to: string, port: string, allowed: boolean) => `${from} to ${to} on ${port}: ${allowed ? 'allowed' : 'denied'}`;

function PodGrid(props: { grid: Grid; onPick: (from: string, to: string, port: string) => void; picked?: string }) {
  const g = props.grid;
  return (
    <table class="grid" data-port={g.port}>
      <caption>{g.port} <span class="hint">(rows: from, columns: to)</span></caption>
      <thead><tr><th scope="col">from \ to</th>{g.cols.map((c) => <th key={c} scope="col" class="col">{c}</th>)}</tr></thead>
      <tbody>
        {g.rows.map((r) => (
          <tr key={r}>
            <th scope="row">{r}</th>
            {g.cols.map((c) => {
              const cell = g.cells.get(`${r}\0${c}`);
              if (!cell) return <td key={c} class="none" title="not probed">·</td>;
              const allowed = cell.allowed === cell.total;
              const id = `${r}\0${c}\0${g.port}`;
              return (
                <td key={c}>
                  <button type="button" class={`cell ${allowed ? 'allow' : 'deny'}${props.picked === id ? ' picked' : ''}`} data-from={r} data-to={c} data-port={g.port}
                    data-allowed={String(allowed)} aria-label={describeCell(r, c, g.port, allowed)} onClick={() => props.onPick(r, c, g.port)}>
                    {allowed ? '✓' : '✗'}
                  </button>
                </td>
              );
            })}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function NamespaceGrid(props: { grid: Grid }) {
  const g = props.grid;
  return (
    <table class="grid" data-port={g.port}>
      <caption>{g.port} <span class="hint">(allowed probes / probes, from namespace to namespace)</span></caption>
      <thead><tr><th scope="col">from \ to</th>{g.cols.map((c) => <th key={c} scope="col" class="col">{c}</th>)}</tr></thead>
      <tbody>
        {g.rows.map((r) => (
          <tr key={r}>
            <th scope="row">{r}</th>
            {g.cols.map((c) => {
              const cell = g.cells.get(`${r}\0${c}`);
              if (!cell) return <td key={c} class="none">·</td>;
              const cls = cell.allowed === cell.total ? 'allow' : cell.allowed === 0 ? 'deny' : 'some';
              return <td key={c} class={`ns ${cls}`} data-from={r} data-to={c} data-port={g.port}>{cell.allowed}/{cell.total}</td>;
            })}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Explanation(props: { e: Explained; policies: Simulation['policies']; live: boolean; onPolicy: (id: string) => void }) {
  const e = props.e;
  const dir = (d: Direction) => (
    <div class="direction" data-direction={d.direction} data-allowed={String(d.allowed)}>
      <h3>{d.direction} of {d.endpoint}: {d.allowed ? 'allowed' : 'denied'}</h3>
      <p class="reason">{d.reason}</p>
      {d.policies.length > 0 && (
        <p>Policies selecting it: {d.policies.map((id, i) => (
          <span key={id}>{i > 0 && ', '}<button type="button" class="link policy-link" data-policy={id} onClick={() => props.onPolicy(id)}>{id}</button></span>
        ))}</p>
      )}
      {d.allowedBy.length > 0 && (
        <ul class="rules">{d.allowedBy.map((m, i) => <li key={i}>{m.policy} {m.rule}{m.peer ? `, peer ${m.peer}` : ''}{m.port ? `, port ${m.port}` : ''}</li>)}</ul>
      )}
    </div>
  );
  return (
    <section class="explain" aria-live="polite" data-from={e.from} data-to={e.to} data-port={`${e.port}/${e.protocol}`} data-allowed={String(e.allowed)}>
      <h2>{e.from} → {e.to} {e.port}/{e.protocol}: {e.allowed ? 'ALLOWED' : 'DENIED'}</h2>
      {dir(e.egress)}
      {dir(e.ingress)}
      {props.live && <p class="hint">Stored policies are also under <a href="#/policies">Policies</a>.</p>}
    </section>
  );
}

export function MatrixView() {
  const [mode, setMode] = useState<'live' | 'file'>('live');
  const [file, setFile] = useState<{ name: string; text: string } | undefined>();
  // The simulation, and the cluster file text it ran on (a cell's explanation must use the same one).
  const [sim, setSim] = useState<(Simulation & { text?: string; name?: string }) | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [by, setBy] = useState<'pod' | 'namespace'>('pod');
  const [port, setPort] = useState('all');
  const [picked, setPicked] = useState<string | undefined>();
  const [explained, setExplained] = useState<Explained | undefined>();
  const [policy, setPolicy] = useState<string | undefined>();

  const run = async (e: Event) => {
    e.preventDefault();
    if (mode === 'file' && !file) return setError('Choose a cluster file first.');
    setBusy(true);
    setError(undefined);
    setExplained(undefined);
    setPolicy(undefined);
    try {
      const text = mode === 'file' ? file?.text : undefined;
      setSim({ ...(await request<Simulation>('POST', '/policies/simulate', { body: text === undefined ? {} : { cluster: text } })), text, name: file?.name });
    } catch (err) {
      setSim(undefined);
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  const pick = async (from: string, to: string, portLabel: string) => {
    const [p, protocol] = portLabel.split('/');
    setPicked(`${from}\0${to}\0${portLabel}`);
    setPolicy(undefined);
    try {
      const r = await request<Simulation & { results: Explained[] }>('POST', '/policies/simulate', {
        body: { ...(sim?.text !== undefined ? { cluster: sim.text } : {}), probes: [{ from, to, port: Number(p), protocol }], explain: true },
      });
      setExplained(r.results[0]);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };
  const onFile = async (e: Event) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (f) setFile({ name: f.name, text: await f.text() });
  };

  const all = sim ? grids(sim, by) : [];
  const shown = port === 'all' ? all : all.filter((g) => g.port === port);
  const pol = policy ? sim?.policies.find((p) => p.id === policy) : undefined;
  return (
    <section class="matrix">
      <h1>Reachability</h1>
      <form class="controls" onSubmit={run}>
        <fieldset>
          <legend>Cluster</legend>
          <label><input type="radio" name="mode" value="live" checked={mode === 'live'} onChange={() => setMode('live')} /> the live cluster</label>
          <label><input type="radio" name="mode" value="file" checked={mode === 'file'} onChange={() => setMode('file')} /> a cluster file</label>
          {mode === 'file' && (
            <label class="file">Cluster file (YAML or JSON) <input type="file" accept=".yaml,.yml,.json,application/json,application/yaml,text/yaml" onChange={onFile} /></label>
          )}
        </fieldset>
        <button type="submit" disabled={busy}>Simulate</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      {sim && (
        <>
          <p class="totals" data-source={sim.source}>
            {sim.source === 'live' ? `Live cluster at revision ${sim.revision}` : `Cluster file ${sim.name ?? ''}`}: {n(sim.endpoints.pods.length, 'pod')},{' '}
            {n(sim.endpoints.externals.length, 'external')}, {n(sim.policies.length, 'policy', 'policies')}; {n(sim.results.length, 'probe')}, {sim.results.filter((r) => r.allowed).length} allowed.
          </p>
          {sim.problems.length > 0 && <details><summary>{sim.problems.length} store records left out</summary><ul>{sim.problems.map((p) => <li key={p}>{p}</li>)}</ul></details>}
          <div class="view-controls">
            <label>Show by <select value={by} onChange={(e) => setBy((e.target as HTMLSelectElement).value as 'pod')}><option value="pod">pod</option><option value="namespace">namespace</option></select></label>
            <label>Port <select value={port} onChange={(e) => setPort((e.target as HTMLSelectElement).value)}>
              <option value="all">all ports</option>{all.map((g) => <option key={g.port} value={g.port}>{g.port}</option>)}
            </select></label>
            <span class="legend"><span class="cell allow">✓</span> allowed <span class="cell deny">✗</span> denied</span>
          </div>
          <div class="matrix-body">
            <div class="grids">
              {shown.map((g) => (by === 'pod' ? <PodGrid key={g.port} grid={g} onPick={pick} picked={picked} /> : <NamespaceGrid key={g.port} grid={g} />))}
            </div>
            <aside class="side" aria-label="Explanation">
              {!explained && <p class="hint">Choose a cell to see why.</p>}
              {explained && <Explanation e={explained} policies={sim.policies} live={sim.source === 'live'} onPolicy={setPolicy} />}
              {pol && (
                <section class="policy-text" data-policy={pol.id}>
                  <h2>Policy {pol.id}</h2>
                  <pre tabIndex={0}>{stringify(pol.object)}</pre>
                  {sim.source === 'live' && <a href={`#/policies/${encodeURIComponent(pol.id)}`}>Open in Policies</a>}
                </section>
              )}
            </aside>
          </div>
        </>
      )}
    </section>
  );
}
