// The console's shell: sign-in, the navigation each role is allowed, and a hash router (#/map,
// #/matrix, #/policies[/ID], #/hosts) so every view has a URL and the server serves one page.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, get, request, setUnauthorizedHandler, token } from './api.js';
import { AddressesView } from './addresses.js';
import { HostsView } from './hosts.js';
import { MapView } from './map.js';
import { MatrixView } from './matrix.js';
import { PoliciesView } from './policies.js';

export interface Me { name: string; role: string; host?: string; access: string[] }
export const can = (me: Me, access: string) => me.access.includes(access);

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const f = () => setHash(location.hash);
    addEventListener('hashchange', f);
    return () => removeEventListener('hashchange', f);
  }, []);
  return hash;
}

function SignIn(props: { onSignedIn: (me: Me) => void; notice?: string }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | undefined>(props.notice);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const me = await request<Me>('GET', '/whoami', { token: value.trim() });
      token.set(value.trim());
      props.onSignedIn(me);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : `romanad cannot be reached: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="signin">
      <h1>Romana console</h1>
      <form onSubmit={submit} aria-describedby={error ? 'signin-error' : undefined}>
        <label for="token">Bearer token</label>
        <input id="token" name="token" type="password" autocomplete="off" spellcheck={false} value={value}
          onInput={(e) => setValue((e.target as HTMLInputElement).value)} aria-invalid={error ? 'true' : undefined} />
        <p class="hint">The token from romanad's auth file. It stays in this tab only (session storage). Leave it empty if romanad runs without tokens.</p>
        <button type="submit" disabled={busy}>Sign in</button>
        {error && <p id="signin-error" class="error" role="alert">{error}</p>}
      </form>
    </main>
  );
}

const VIEWS = [
  { path: 'map', label: 'Map', access: 'read' },
  { path: 'matrix', label: 'Reachability', access: 'read' },
  { path: 'policies', label: 'Policies', access: 'read' },
  { path: 'hosts', label: 'Hosts and agents', access: 'read' },
  { path: 'addresses', label: 'Addresses', access: 'addresses' },
] as const;

export function App() {
  const [me, setMe] = useState<Me | undefined>();
  const [checking, setChecking] = useState(token.get() !== null);
  const [notice, setNotice] = useState<string | undefined>();
  const hash = useHash();

  useEffect(() => {
    setUnauthorizedHandler((e) => {
      token.clear();
      setMe(undefined);
      setNotice(`Signed out: ${e.message}`);
    });
    if (token.get() === null) return;
    get<Me>('/whoami').then(setMe, () => undefined).finally(() => setChecking(false));
  }, []);

  if (checking) return <main id="main" class="signin"><p>Signing in…</p></main>;
  if (!me) return <SignIn notice={notice} onSignedIn={(m) => (setNotice(undefined), setMe(m))} />;

  const views = VIEWS.filter((v) => can(me, v.access) && (v.path !== 'addresses' || !can(me, 'read')));
  const [, first = '', ...rest] = hash.replace(/^#/, '').split('/');
  const current = views.find((v) => v.path === first) ?? views[0];
  const signOut = () => {
    token.clear();
    setMe(undefined);
  };
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>Skip to content</a>
      <header class="top">
        <span class="brand">Romana</span>
        <nav aria-label="Views">
          <ul>
            {views.map((v) => (
              <li key={v.path}><a href={`#/${v.path}`} aria-current={v === current ? 'page' : undefined}>{v.label}</a></li>
            ))}
          </ul>
        </nav>
        <span class="who" data-role={me.role}>{me.name} · {me.role}{me.host ? ` (${me.host})` : ''}</span>
        <button type="button" class="quiet" onClick={signOut}>Sign out</button>
      </header>
      <main id="main" tabIndex={-1}>
        {!current && <p>This token's role ({me.role}) may not read anything the console shows.</p>}
        {current?.path === 'map' && <MapView />}
        {current?.path === 'matrix' && <MatrixView />}
        {current?.path === 'policies' && <PoliciesView admin={can(me, 'admin')} selected={rest.length ? decodeURIComponent(rest.join('/')) : undefined} />}
        {current?.path === 'hosts' && <HostsView />}
        {current?.path === 'addresses' && <AddressesView me={me} />}
      </main>
    </>
  );
}
