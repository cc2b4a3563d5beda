// The validation entry points the CLI and romanad call: text → objects → normalized policies.
import { Composer, Lexer, LineCounter, Parser } from 'yaml';
import { RomanaError, invalid } from '../errors.js';
import { checkDepth } from '../schema/depth.js';
import { describe, isObj, type Obj } from './fields.js';
import type { NormalizeOptions, Policy } from './model.js';
import { MAX_DEPTH, normalizePolicy, withPath } from './normalize-object.js';

export { MAX_DEPTH, normalizePolicy, withPath };

/** Parses YAML or JSON text (one document or several, `---` separated) into plain values. */
export function parseDocuments(text: string, what = 'input'): unknown[] {
  const lines = new LineCounter();
  const parser = new Parser(lines.addNewLine);
  function* tokens() {
    lines.addNewLine(0);
    for (const lexeme of new Lexer().lex(text)) {
      yield* parser.next(lexeme);
      if (parser.stack.length > MAX_DEPTH) {
        throw invalid(`${what}: nested more than ${MAX_DEPTH} levels deep (line ${lines.linePos(parser.offset).line})`);
      }
    }
    yield* parser.end();
  }
  const out: unknown[] = [];
  // Warnings (unknown tags, collection keys) would go to the process's stderr; the checks that follow
  // name whatever is wrong with the resulting values.
  for (const d of new Composer({ logLevel: 'error' }).compose(tokens())) {
    const err = d.errors[0];
    if (err) {
      const line = lines.linePos(err.pos[0]).line;
      throw invalid(`${what}: not valid YAML or JSON (line ${line}): ${err.message.split('\n')[0]}`);
    }
    try {
      out.push(d.toJS({ maxAliasCount: 100 }));
    } catch (e) {
      // A "billion laughs" of aliases: the library stops the expansion and says why.
      throw invalid(`${what}: ${(e as Error).message}`);
    }
  }
  return out;
}

/**
 * The policy objects in a file: a single object, a JSON array, a Kubernetes List (`kind: List` or
 * `*List` with `items`), or multi-document YAML of any of these. Empty documents are skipped.
 */
export function parsePolicies(text: string): Obj[] {
  const out: Obj[] = [];
  const add = (v: unknown, where: string): void => {
    if (v === null || v === undefined) return;
    if (Array.isArray(v)) return v.forEach((x, i) => add(x, `${where}[${i}]`));
    if (!isObj(v)) throw invalid(`${where}: expected a policy object, got ${describe(v)}`);
    if (typeof v.kind === 'string' && v.kind.endsWith('List') && Array.isArray(v.items)) {
      return v.items.forEach((x, i) => add(x, `${where}.items[${i}]`));
    }
    out.push(v);
  };
  parseDocuments(text, 'policies').forEach((d, i) => add(d, `document ${i + 1}`));
  return out;
}

/** parsePolicies + normalizePolicy, with errors naming the object ("policies[1].spec..."); ids must be unique. */
export function loadPolicies(text: string, opts: NormalizeOptions = {}): Policy[] {
  return normalizeAll(parsePolicies(text), 'policies', opts);
}

export function normalizeAll(objects: unknown[], prefix: string, opts: NormalizeOptions = {}): Policy[] {
  const seen = new Map<string, number>();
  return objects.map((o, i) => {
    const p = withPath(`${prefix}[${i}]`, () => normalizePolicy(o, opts));
    const prev = seen.get(p.id);
    if (prev !== undefined) throw invalid(`${prefix}[${i}]: policy id '${p.id}' repeats ${prefix}[${prev}]`);
    seen.set(p.id, i);
    return p;
  });
}
