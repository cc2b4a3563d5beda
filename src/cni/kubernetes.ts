// Reads a pod's labels from the Kubernetes API with the credentials of a kubeconfig. Loaded only when
// the configuration names a kubeconfig and the runtime did not already hand over the segment label.
// The kubeconfig is read by a small parser for the YAML subset kubeconfigs use (block maps and lists,
// plain and quoted scalars, comments), so the plugin carries no YAML library.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { Code, cniError } from './spec.js';

type Y = string | boolean | null | Y[] | { [k: string]: Y };
interface Line { indent: number; text: string; n: number }

/** Parses the block-style YAML subset of kubeconfig files (JSON files are parsed as JSON). */
export function parseKubeconfigText(text: string): Y {
  if (text.trimStart().startsWith('{')) return JSON.parse(text) as Y;
  const lines: Line[] = [];
  text.split(/\r?\n/).forEach((raw, n) => {
    const t = stripComment(raw).trimEnd();
    if (!t.trim() || t.trim() === '---' || t.startsWith('%')) return;
    const indent = t.length - t.trimStart().length;
    if (t.slice(0, indent).includes('\t')) throw new Error(`line ${n + 1}: tab in indentation`);
    lines.push({ indent, text: t.trimStart(), n: n + 1 });
  });
  if (!lines.length) return null;
  const [v, i] = block(lines, 0, lines[0].indent);
  if (i < lines.length) throw new Error(`line ${lines[i].n}: unexpected indentation`);
  return v;
}

function stripComment(s: string): string {
  let q: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q) {
      if (c === q) q = undefined;
    } else if (c === '"' || c === "'") {
      if (i === 0 || /[\s:\-[{,]/.test(s[i - 1])) q = c;
    } else if (c === '#' && (i === 0 || /\s/.test(s[i - 1]))) return s.slice(0, i);
  }
  return s;
}

const isItem = (l: Line) => l.text === '-' || l.text.startsWith('- ');

function block(lines: Line[], i: number, indent: number): [Y, number] {
  return isItem(lines[i]) ? seq(lines, i, indent) : map(lines, i, indent);
}

function seq(lines: Line[], i: number, indent: number): [Y, number] {
  const out: Y[] = [];
  while (i < lines.length && lines[i].indent === indent && isItem(lines[i])) {
    const l = lines[i];
    const rest = l.text.slice(1).trimStart();
    if (!rest) {
      if (i + 1 < lines.length && lines[i + 1].indent > indent) {
        const [v, j] = block(lines, i + 1, lines[i + 1].indent);
        out.push(v);
        i = j;
      } else {
        out.push(null);
        i++;
      }
    } else if (keyOf(rest)) {
      // "- key: value" opens a map whose keys sit at the column of "key".
      const col = indent + (l.text.length - rest.length);
      lines[i] = { indent: col, text: rest, n: l.n };
      const [v, j] = map(lines, i, col);
      out.push(v);
      i = j;
    } else {
      out.push(scalar(rest, l.n));
      i++;
    }
  }
  return [out, i];
}

function map(lines: Line[], i: number, indent: number): [Y, number] {
  const out: { [k: string]: Y } = {};
  while (i < lines.length && lines[i].indent === indent && !isItem(lines[i])) {
    const l = lines[i];
    const kv = keyOf(l.text);
    if (!kv) throw new Error(`line ${l.n}: expected "key: value"`);
    const [k, rest] = kv;
    i++;
    if (rest) out[k] = scalar(rest, l.n);
    else if (i < lines.length && (lines[i].indent > indent || (lines[i].indent === indent && isItem(lines[i])))) {
      const [v, j] = block(lines, i, lines[i].indent);
      out[k] = v;
      i = j;
    } else out[k] = null;
  }
  return [out, i];
}

function keyOf(t: string): [string, string] | undefined {
  let k: string;
  let rest: string;
  if (t[0] === '"' || t[0] === "'") {
    const end = t.indexOf(t[0], 1);
    if (end < 0 || t[end + 1] !== ':') return undefined;
    k = unquote(t.slice(0, end + 1), 0) as string;
    rest = t.slice(end + 2);
  } else {
    const m = /^([^:]*?):(\s|$)/.exec(t);
    if (!m) return undefined;
    k = m[1].trim();
    rest = t.slice(m[0].length);
  }
  return [k, rest.trim()];
}

function scalar(s: string, n: number): Y {
  if (s === '{}') return {};
  if (s === '[]') return [];
  if (s[0] === '"' || s[0] === "'") return unquote(s, n);
  if (s[0] === '|' || s[0] === '>' || s[0] === '{' || s[0] === '[' || s[0] === '&' || s[0] === '*') throw new Error(`line ${n}: YAML construct not supported in a kubeconfig here: ${s.slice(0, 20)}`);
  if (s === 'true' || s === 'false') return s === 'true';
  if (s === 'null' || s === '~') return null;
  return s;
}

function unquote(s: string, n: number): string {
  if (s[0] === "'") {
    if (!s.endsWith("'") || s.length < 2) throw new Error(`line ${n}: unterminated string`);
    return s.slice(1, -1).replace(/''/g, "'");
  }
  try {
    return JSON.parse(s) as string;
  } catch {
    throw new Error(`line ${n}: bad double-quoted string`);
  }
}

export interface KubeAccess { server: string; ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; token?: string; insecure?: boolean }

/** current-context -> cluster + user, with file references resolved relative to the kubeconfig. */
export function loadKubeconfig(path: string): KubeAccess {
  let doc: Y;
  try {
    doc = parseKubeconfigText(readFileSync(path, 'utf8'));
  } catch (e) {
    throw cniError(Code.invalidConfig, `kubernetes: cannot read kubeconfig ${path}: ${(e as Error).message}`);
  }
  const o = (doc ?? {}) as Record<string, Y>;
  const named = (list: string, name: unknown, inner: string): Record<string, Y> => {
    const e = ((o[list] ?? []) as Record<string, Y>[]).find((x) => x?.name === name);
    if (!e) throw cniError(Code.invalidConfig, `kubernetes: kubeconfig ${path} has no ${list.slice(0, -1)} '${String(name)}'`);
    return (e[inner] ?? {}) as Record<string, Y>;
  };
  const ctxName = o['current-context'] ?? ((o.contexts ?? []) as Record<string, Y>[])[0]?.name;
  const ctx = named('contexts', ctxName, 'context');
  const cluster = named('clusters', ctx.cluster, 'cluster');
  const user = ctx.user ? named('users', ctx.user, 'user') : {};
  const rel = (p: Y | undefined) => (typeof p === 'string' && p ? (isAbsolute(p) ? p : join(dirname(path), p)) : undefined);
  const fileOrData = (file: Y | undefined, data: Y | undefined): string | Buffer | undefined => {
    if (typeof data === 'string' && data) return Buffer.from(data, 'base64');
    const f = rel(file);
    return f ? readFileSync(f) : undefined;
  };
  if (typeof cluster.server !== 'string' || !cluster.server) throw cniError(Code.invalidConfig, `kubernetes: kubeconfig ${path}: cluster has no server`);
  const tokenFile = rel(user.tokenFile);
  return {
    server: cluster.server.replace(/\/+$/, ''),
    ca: fileOrData(cluster['certificate-authority'], cluster['certificate-authority-data']),
    cert: fileOrData(user['client-certificate'], user['client-certificate-data']),
    key: fileOrData(user['client-key'], user['client-key-data']),
    token: typeof user.token === 'string' ? user.token : tokenFile ? readFileSync(tokenFile, 'utf8').trim() : undefined,
    insecure: cluster['insecure-skip-tls-verify'] === true,
  };
}

/** GET /api/v1/namespaces/{ns}/pods/{name} -> metadata.labels. */
export async function podLabels(kubeconfig: string, namespace: string, pod: string, timeoutMs = 5000): Promise<Record<string, string>> {
  const a = loadKubeconfig(kubeconfig);
  const url = new URL(`${a.server}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}`);
  const mod = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
  const headers: Record<string, string> = { accept: 'application/json' };
  if (a.token) headers.authorization = `Bearer ${a.token}`;
  const tls = url.protocol === 'https:' ? { ca: a.ca, cert: a.cert, key: a.key, rejectUnauthorized: !a.insecure } : {};
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = mod.request(url, { method: 'GET', headers, timeout: timeoutMs, agent: false, ...tls }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', (e) => reject(cniError(Code.tryAgainLater, `kubernetes: cannot reach ${a.server}: ${e.message}`)));
    req.end();
  });
  if (status === 401 || status === 403) throw cniError(Code.invalidConfig, `kubernetes: the API server refused the kubeconfig's credentials (HTTP ${status})`);
  if (status !== 200) throw cniError(Code.tryAgainLater, `kubernetes: GET pod ${namespace}/${pod}: HTTP ${status}`, text.slice(0, 300));
  try {
    return ((JSON.parse(text) as { metadata?: { labels?: Record<string, string> } }).metadata?.labels) ?? {};
  } catch {
    throw cniError(Code.tryAgainLater, `kubernetes: GET pod ${namespace}/${pod}: the answer is not JSON`);
  }
}
