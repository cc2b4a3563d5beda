// Stored policies: one key per policy, validated by the policy core before anything is written.
import { notFound } from '../core/errors.js';
import { normalizePolicy } from '../core/policy/normalize-object.js';
import type { NormalizeOptions, PolicyKind } from '../core/policy/model.js';
import { POLICIES, policyKey } from './keys.js';
import { type ControlState, parseJson, put, unchanged } from './state.js';

export type ApplyResult = 'created' | 'configured' | 'unchanged';

export interface PolicyRecord {
  id: string;
  kind: PolicyKind;
  description?: string;
  /** The object as the client sent it (after validation), so it can be shown and re-applied. */
  object: Record<string, unknown>;
}

export class Policies {
  constructor(private readonly s: ControlState, private readonly opts: NormalizeOptions = {}) {}

  /**
   * Creates or replaces a policy (by its id), and says which: `created`, `configured` (replaced), or
   * `unchanged` (the same policy was already stored; nothing is written, so agents have nothing to do).
   * Invalid objects are refused and nothing is stored.
   */
  async apply(obj: unknown): Promise<PolicyRecord & { result: ApplyResult }> {
    const p = normalizePolicy(obj, this.opts);
    const rec: PolicyRecord = { id: p.id, kind: p.kind, ...(p.description ? { description: p.description } : {}), object: p.object };
    const value = JSON.stringify(rec);
    const key = policyKey(p.id);
    const result = await this.s.cas<ApplyResult>('policy apply', async () => {
      const kv = await this.s.store.get(key);
      if (kv?.value === value) return { compares: [], ops: [], result: 'unchanged' };
      return { compares: [unchanged(key, kv)], ops: [put(key, value)], result: kv ? 'configured' : 'created' };
    });
    return { ...rec, result };
  }

  async list(): Promise<{ revision: number; policies: PolicyRecord[] }> {
    const r = await this.s.store.list(POLICIES);
    return { revision: r.revision, policies: r.items.map((kv) => JSON.parse(kv.value) as PolicyRecord) };
  }

  async get(id: string): Promise<PolicyRecord> {
    const rec = parseJson<PolicyRecord>(await this.s.store.get(policyKey(id)));
    if (!rec) throw notFound(`policy '${id}' does not exist`);
    return rec;
  }

  async remove(id: string): Promise<PolicyRecord> {
    const rec = await this.get(id);
    if (!(await this.s.store.delete(policyKey(id)))) throw notFound(`policy '${id}' does not exist`);
    return rec;
  }
}
