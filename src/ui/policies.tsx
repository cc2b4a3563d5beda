// Policies: the stored list, one policy's YAML, and (admins only: the API refuses everyone else
// anyway) apply and delete. A refused policy shows the API's error beside the line of the field it
// names.
import { useEffect, useState } from 'preact/hooks';
import { stringify } from 'yaml';
import { ApiError, get, listOf, request } from './api.js';
import { type FieldError, lineOf, splitError } from './fieldpath.js';

interface PolicyRecord { id: string; kind: string; description?: string; object: Record<string, unknown>; result?: string }

const EXAMPLE = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-web
  namespace: default
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
    - ports:
        - port: 80
`;

function Editor(props: { onApplied: (p: PolicyRecord) => void }) {
  const [text, setText] = useState(EXAMPLE);
  const [error, setError] = useState<FieldError | undefined>();
  const [sent, setSent] = useState('');
  const [busy, setBusy] = useState(false);
  const apply = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const p = await request<PolicyRecord>('POST', '/policies', { text, contentType: 'application/yaml' });
      setError(undefined);
      props.onApplied(p);
    } catch (err) {
      const fe = err instanceof ApiError ? splitError(err.message) : { path: '', message: String(err) };
      setSent(text);
      setError({ ...fe, line: fe.path ? lineOf(text, fe.path) : undefined });
    } finally {
      setBusy(false);
    }
  };
  const lines = sent.split('\n');
  return (
    <form class="editor" onSubmit={apply}>
      <h2>Apply a policy</h2>
      <label for="policy-text">Policy (YAML or JSON: a Kubernetes NetworkPolicy or a Romana policy)</label>
      <textarea id="policy-text" rows={14} spellcheck={false} value={text} aria-invalid={error ? 'true' : undefined}
        aria-describedby={error ? 'policy-error' : undefined} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
      <button type="submit" disabled={busy}>Apply</button>
      {error && (
        <div id="policy-error" class="field-error" role="alert" data-path={error.path} data-line={error.line ?? ''}>
          <p><strong>Refused</strong>{error.path ? <> at <code>{error.path}</code>{error.line ? ` (line ${error.line})` : ''}</> : ''}: {error.message}</p>
          {error.line !== undefined && (
            <ol class="annotated" aria-label="The policy as sent, with the error at its field">
              {lines.map((l, i) => (
                <li key={i} value={i + 1} class={i + 1 === error.line ? 'bad' : undefined}>
                  <code>{l || ' '}</code>
                  {i + 1 === error.line && <span class="msg">← {error.path}: {error.message}</span>}
                </li>
              ))}
            </ol>
          )}
        </div>
      )}
    </form>
  );
}

export function PoliciesView(props: { admin: boolean; selected?: string }) {
  const [list, setList] = useState<PolicyRecord[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [confirm, setConfirm] = useState<string | undefined>();
  const [message, setMessage] = useState<string | undefined>();
  const load = () => get<unknown>('/policies').then((r) => setList(listOf<PolicyRecord>(r, 'policies')), (e) => setError(e instanceof ApiError ? e.message : String(e)));
  useEffect(() => void load(), []);
  const del = async (id: string) => {
    try {
      await request('DELETE', `/policies/${encodeURIComponent(id)}`);
      setMessage(`Policy ${id} deleted.`);
      setConfirm(undefined);
      if (props.selected === id) location.hash = '#/policies';
      await load();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };
  const selected = props.selected ? list?.find((p) => p.id === props.selected) : undefined;
  return (
    <section class="policies">
      <h1>Policies</h1>
      {error && <p class="error" role="alert">{error}</p>}
      {message && <p class="notice" role="status">{message}</p>}
      {!list && !error && <p>Loading…</p>}
      {list && (
        <table class="list">
          <caption>{list.length} stored {list.length === 1 ? 'policy' : 'policies'}</caption>
          <thead><tr><th scope="col">Id</th><th scope="col">Kind</th><th scope="col">Description</th>{props.admin && <th scope="col">Actions</th>}</tr></thead>
          <tbody>
            {list.map((p) => (
              <tr key={p.id} data-policy={p.id}>
                <th scope="row"><a href={`#/policies/${encodeURIComponent(p.id)}`} aria-current={p.id === props.selected ? 'true' : undefined}>{p.id}</a></th>
                <td>{p.kind}</td><td>{p.description ?? ''}</td>
                {props.admin && (
                  <td>
                    {confirm === p.id
                      ? <><button type="button" class="danger" onClick={() => del(p.id)}>Delete {p.id}</button> <button type="button" class="quiet" onClick={() => setConfirm(undefined)}>Keep</button></>
                      : <button type="button" class="quiet" onClick={() => setConfirm(p.id)} aria-label={`Delete policy ${p.id}`}>Delete…</button>}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {props.selected && list && !selected && <p class="error">No policy {props.selected}.</p>}
      {selected && (
        <section class="policy-text" data-policy={selected.id}>
          <h2>{selected.id}</h2>
          <pre tabIndex={0} aria-label={`YAML of policy ${selected.id}`}>{stringify(selected.object)}</pre>
        </section>
      )}
      {props.admin && <Editor onApplied={(p) => (setMessage(`Policy ${p.id} ${p.result ?? 'applied'}.`), void load())} />}
    </section>
  );
}
