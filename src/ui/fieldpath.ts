// Finds the line of the field an API error names ("spec.ingress[0].ports[0].port: must be ...") in
// the YAML or JSON text the user sent, so the console can show the error next to it. Label keys may
// hold dots ("app.kubernetes.io/name"), so at each mapping the longest key that fits is taken.
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';

export interface FieldError { path: string; message: string; line?: number }

/** Splits "path: message" as the API writes it; messages without a path get none. */
export function splitError(message: string): FieldError {
  const m = /^([A-Za-z_$][\w.$/\-[\]]*): (.*)$/s.exec(message);
  return m ? { path: m[1], message: m[2] } : { path: '', message };
}

function tokens(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const part of path.split(/(\[\d+\])/)) {
    if (!part) continue;
    const idx = /^\[(\d+)\]$/.exec(part);
    if (idx) out.push(Number(idx[1]));
    else out.push(...part.split('.').filter(Boolean));
  }
  return out;
}

/** 1-based line of the deepest node of `path` found in `text` (undefined: not even the first step). */
export function lineOf(text: string, path: string): number | undefined {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, keepSourceTokens: false, uniqueKeys: false });
  let node: unknown = doc.contents;
  let at: number | undefined;
  const ts = tokens(path);
  for (let i = 0; i < ts.length; ) {
    const t = ts[i];
    if (isSeq(node) && typeof t === 'number') {
      const item = node.items[t] as Node | undefined;
      if (!item) break;
      if (item.range) at = item.range[0];
      node = item;
      i++;
      continue;
    }
    if (!isMap(node)) break;
    const map = node;
    let matched = false;
    // The longest run of tokens that names one key.
    for (let j = ts.length; j > i && !matched; j--) {
      const name = ts.slice(i, j).join('.');
      const pair = map.items.find((p) => isScalar(p.key) && String(p.key.value) === name);
      if (pair) {
        const k = pair.key as Node;
        if (k.range) at = k.range[0];
        node = pair.value;
        i = j;
        matched = true;
      }
    }
    if (!matched) break;
  }
  return at === undefined ? undefined : lc.linePos(at).line;
}
