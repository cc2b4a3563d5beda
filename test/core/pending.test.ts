// Pure decisions of the pending-release journal: file names, which entries to send and in what order,
// live and abandoned claims, duplicates, and what a release means against romanad's current record.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CLAIM_TTL_MS, type JournalEntry, type PendingRelease, parseEntryName, parseRelease, pendingFile, releaseDecision, sendingFile, toSend,
} from '../../src/core/ipam/pending.js';

const rel = (name: string, since: string, extra: Partial<PendingRelease> = {}): PendingRelease =>
  ({ name, host: 'h1', network: 'n', container_id: name, ifname: 'eth0', since, ...extra });
const entry = (file: string, release?: PendingRelease): JournalEntry => ({ ...parseEntryName(file)!, release });
const NOW = 1_000_000;
const alive = (live: number[]) => (pid: number) => live.includes(pid);

describe('journal file names', () => {
  it('pending and sending names round-trip; anything else is not an entry', () => {
    assert.deepEqual(parseEntryName(pendingFile('abc1')), { file: 'abc1.pending', key: 'abc1', state: 'pending' });
    assert.deepEqual(parseEntryName(sendingFile('abc1', 42, 7)), { file: 'abc1.sending.42.7', key: 'abc1', state: 'sending', pid: 42, claimedAt: 7 });
    for (const f of ['.abc1.42.tmp', 'abc1.json', 'ABC.pending', 'abc1.sending.x.1', '']) assert.equal(parseEntryName(f), undefined, f);
  });
  it('a file that is not a whole release reads as none', () => {
    assert.deepEqual(parseRelease(JSON.stringify(rel('a', 't1'))), rel('a', 't1'));
    for (const t of ['', '{"name":"a","host":"h1"', '{"name":"a","host":"h1"}', '[]', 'null', '{"name":"a","host":"h1","since":"t","ip":5}']) assert.equal(parseRelease(t), undefined, t);
  });
});

describe('what to send', () => {
  it('oldest first (by the time the DEL recorded it), only this host\'s, skipping unreadable entries', () => {
    const es = [
      entry('c.pending', rel('third', '2026-01-03')), entry('a.pending', rel('first', '2026-01-01')),
      entry('d.pending', rel('other', '2026-01-01', { host: 'h2' })), entry('b.pending', rel('second', '2026-01-02')), entry('e.pending'),
    ];
    assert.deepEqual(toSend(es, 'h1', NOW, alive([])).map((s) => s.entry.release!.name), ['first', 'second', 'third']);
  });
  it('a live, recent claim is left to its owner; a dead or expired one is taken over', () => {
    const r = rel('x', 't');
    assert.deepEqual(toSend([entry(sendingFile('a', 7, NOW - 10), r)], 'h1', NOW, alive([7])), []);
    assert.equal(toSend([entry(sendingFile('a', 7, NOW - 10), r)], 'h1', NOW, alive([])).length, 1, 'the claimant died');
    assert.equal(toSend([entry(sendingFile('a', 7, NOW - CLAIM_TTL_MS - 1), r)], 'h1', NOW, alive([7])).length, 1, 'the claimant hangs');
  });
  it('duplicates of a key are one release: the pending copy is claimed, the others removed with it', () => {
    const r = rel('x', 't');
    const [s] = toSend([entry(sendingFile('a', 7, NOW - 10), r), entry('a.pending', r), entry(sendingFile('a', 8, NOW - 5), r)], 'h1', NOW, alive([]));
    assert.equal(s.entry.file, 'a.pending');
    assert.deepEqual(s.duplicates.map((d) => d.file).sort(), ['a.sending.7.999990', 'a.sending.8.999995']);
  });
  it('a key with one live claim among duplicates is left alone entirely', () => {
    const r = rel('x', 't');
    assert.deepEqual(toSend([entry('a.pending', r), entry(sendingFile('a', 7, NOW - 10), r)], 'h1', NOW, alive([7])), []);
  });
});

describe('a release against romanad\'s current record', () => {
  const cur = { name: 'x', ip: '10.0.0.5', host: 'h1', created_at: '2026-01-01T00:00:00Z' };
  it('conditional on exactly the record romanad holds now', () => {
    assert.deepEqual(releaseDecision(rel('x', 't', { ip: '10.0.0.5' }), cur), { release: { name: 'x', ip: '10.0.0.5', created_at: '2026-01-01T00:00:00Z' } });
    assert.deepEqual(releaseDecision(rel('x', 't'), cur), { release: { name: 'x', ip: '10.0.0.5', created_at: '2026-01-01T00:00:00Z' } }, 'no IP in the journal: the record by name');
  });
  it('gone, another host\'s, or re-made with another IP: nothing to release', () => {
    assert.deepEqual(releaseDecision(rel('x', 't'), undefined), { done: 'gone' });
    assert.deepEqual(releaseDecision(rel('x', 't'), { ...cur, host: 'h2' }), { done: 'other-host' });
    assert.deepEqual(releaseDecision(rel('x', 't', { ip: '10.0.0.9' }), cur), { done: 'other-ip' });
  });
});
