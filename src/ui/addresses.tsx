// What a token without read access (role cni) may see: the addresses of its own host.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, get, listOf } from './api.js';
import type { Me } from './app.js';
import type { Address } from './model.js';

export function AddressesView(props: { me: Me }) {
  const [list, setList] = useState<Address[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const host = props.me.host;
  useEffect(() => {
    get<unknown>(host ? `/addresses?host=${encodeURIComponent(host)}` : '/addresses')
      .then((r) => setList(listOf<Address>(r, 'addresses')), (e) => setError(e instanceof ApiError ? e.message : String(e)));
  }, [host]);
  return (
    <section>
      <h1>Addresses{host ? ` on ${host}` : ''}</h1>
      <p class="hint">Role {props.me.role} may read addresses{host ? ` of host ${host} only` : ''}; the map, policies and agents need read access.</p>
      {error && <p class="error" role="alert">{error}</p>}
      {list && (
        <table class="list">
          <caption>{list.length} addresses</caption>
          <thead><tr><th scope="col">Name</th><th scope="col">IP</th><th scope="col">Block</th><th scope="col">Owner</th></tr></thead>
          <tbody>{list.map((a) => <tr key={a.name}><td>{a.name}</td><td>{a.ip}</td><td>{a.block}</td><td>{a.tenant}:{a.segment}</td></tr>)}</tbody>
        </table>
      )}
    </section>
  );
}
