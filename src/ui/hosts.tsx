// Hosts and agents, live: romanad pushes the agents' view (GET /agents/events) whenever a report
// arrives, the state changes, or a report goes stale; between pushes only the ages tick here.
import { useEffect, useState } from 'preact/hooks';
import { type StreamState, subscribe } from './api.js';

interface Agent {
  host: string; ip: string; report: 'fresh' | 'stale' | 'none'; window_seconds: number; received_at?: string; age_seconds?: number;
  last_applied_revision?: number; applied_change_revision?: number; current?: boolean; drift_repairs?: number; last_error?: string | null; last_error_at?: string; interfaces?: number;
}
interface Finding { kind: string; subject: string; host?: string; detail: string; safe: boolean; advice?: string }
interface AgentsView { revision: number; change_revision: number; at: string; agents: Agent[]; check: { checked_at: string; summary: Record<string, number>; findings: Finding[] } }

const REPORT_TEXT = { fresh: 'reporting', stale: 'not reporting', none: 'never reported' };

export function HostsView() {
  const [view, setView] = useState<{ v: AgentsView; at: number } | undefined>();
  const [state, setState] = useState<StreamState>('connecting');
  const [why, setWhy] = useState<string | undefined>();
  const [, tick] = useState(0);
  useEffect(() => subscribe('/agents/events', (type, data) => {
    if (type === 'agents') setView({ v: JSON.parse(data) as AgentsView, at: performance.now() });
  }, (s, err) => (setState(s), setWhy(err?.message))), []);
  useEffect(() => {
    const t = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, []);

  const since = view ? (performance.now() - view.at) / 1000 : 0;
  const v = view?.v;
  return (
    <section class="hosts">
      <h1>Hosts and agents</h1>
      <p class={`stream ${state}`} role="status" data-state={state}>
        {state === 'live' ? 'Live: romanad pushes every change.' : state === 'refused' ? `Refused: ${why}` : state === 'reconnecting' ? 'Connection lost; reconnecting…' : 'Connecting…'}
      </p>
      {v && (
        <>
          <p class="totals" data-change={v.change_revision}>Store revision {v.revision}; newest change r{v.change_revision}. An agent is current when it has applied that change.</p>
          <table class="agents">
            <caption>{v.agents.length} hosts</caption>
            <thead>
              <tr><th scope="col">Host</th><th scope="col">Agent</th><th scope="col">Last report</th><th scope="col">Applied</th><th scope="col">Drift repairs</th><th scope="col">Last error</th><th scope="col">Interfaces</th></tr>
            </thead>
            <tbody>
              {v.agents.map((a) => {
                const age = a.age_seconds === undefined ? undefined : Math.round(a.age_seconds + since);
                return (
                  <tr key={a.host} data-host={a.host} data-report={a.report} data-window={a.window_seconds} class={`report-${a.report}`}>
                    <th scope="row">{a.host} <span class="ip">{a.ip}</span></th>
                    <td><span class={`dot ${a.report}`} aria-hidden="true" />{REPORT_TEXT[a.report]}</td>
                    <td>{age === undefined ? '—' : `${age} s ago`} <span class="hint">(window {a.window_seconds} s)</span></td>
                    <td data-current={a.current === undefined ? '' : String(a.current)}>
                      {a.last_applied_revision === undefined ? '—' : `r${a.last_applied_revision} of r${v.revision}`}
                      {a.current === true && ' · current'}{a.current === false && <strong> · behind (r{a.applied_change_revision} &lt; r{v.change_revision})</strong>}
                    </td>
                    <td>{a.drift_repairs ?? '—'}</td>
                    <td class="err">{a.last_error ? <>{a.last_error}{a.last_error_at ? <span class="hint"> ({a.last_error_at})</span> : ''}</> : 'none'}</td>
                    <td>{a.interfaces ?? '—'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <h2>IPAM check</h2>
          <p class="totals" data-problems={v.check.summary.problems}>
            {v.check.summary.addresses} addresses, {v.check.summary.blocks} blocks, {v.check.summary.hosts} hosts: {v.check.summary.problems} problems
            ({v.check.summary.repairable} repairable with <code>romana ipam check --repair</code>), {v.check.summary.unjudged} addresses not judged.
          </p>
          {v.check.findings.length > 0 && (
            <table class="findings">
              <caption>Findings</caption>
              <thead><tr><th scope="col">Kind</th><th scope="col">Subject</th><th scope="col">Host</th><th scope="col">Detail</th><th scope="col">Safe to repair</th></tr></thead>
              <tbody>{v.check.findings.map((f, i) => <tr key={i} data-kind={f.kind}><td>{f.kind}</td><td>{f.subject}</td><td>{f.host ?? ''}</td><td>{f.detail}{f.advice ? ` ${f.advice}` : ''}</td><td>{f.safe ? 'yes' : 'no'}</td></tr>)}</tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
