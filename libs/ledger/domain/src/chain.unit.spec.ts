import { createHash } from 'node:crypto';
import { KoaRefusal, subjectOf } from '@koa/contracts';
import { assertChainIntact, CHAIN_START, checkpoint, GENESIS_HASH, nextEntry, verifyChain, verifyChainPage, type LedgerEntry } from './index';
import { releaseStoryEvents } from './testing';

/** Builds a chain the way the service does: one entry per stored envelope, in stream order. */
function chainOf(n: number): LedgerEntry[] {
  const { events } = releaseStoryEvents({ tag: 'c' });
  const entries: LedgerEntry[] = [];
  for (let i = 0; i < n; i++) {
    const e = events[i % events.length];
    const stored = JSON.parse(JSON.stringify(e));
    entries.push(nextEntry(entries.length ? entries[entries.length - 1].entryHash : GENESIS_HASH, 10 + i * 2, subjectOf(e), stored));
  }
  return entries;
}

describe('hash chain', () => {
  it('links each entry to the previous one, starting at the all-zero genesis hash', () => {
    const chain = chainOf(5);
    expect(chain[0].prevHash).toBe(`sha256:${'0'.repeat(64)}`);
    for (let i = 1; i < chain.length; i++) expect(chain[i].prevHash).toBe(chain[i - 1].entryHash);
    expect(verifyChain(chain)).toEqual({ ok: true, size: 5, headHash: chain[4].entryHash, headSeq: 18 });
  });

  it('is byte-precisely sha256(prevHash ‖ JCS(body)) as documented', () => {
    const [e] = chainOf(1);
    const body = `{"eventDigest":"${e.eventDigest}","eventId":"${e.eventId}","prevHash":"${e.prevHash}","seq":10,"source":"${e.source}","subject":"${e.subject}","tenant":"acme","time":"${e.time}","type":"${e.type}"}`;
    expect(e.entryHash).toBe(`sha256:${createHash('sha256').update(e.prevHash + body, 'utf8').digest('hex')}`);
  });

  it('Given a tampered field, When verified, Then the first broken index is reported with LEDGER_CHAIN_BROKEN', () => {
    const chain = chainOf(6);
    const tampered = chain.map((e, i) => (i === 3 ? { ...e, time: '2030-01-01T00:00:00.000Z' } : e));
    const result = verifyChain(tampered);
    expect(result).toMatchObject({ ok: false, code: 'LEDGER_CHAIN_BROKEN', index: 3, seq: 16, reason: 'entry-hash-mismatch' });
    try {
      assertChainIntact(result);
      throw new Error('expected a refusal');
    } catch (e) {
      expect(e).toBeInstanceOf(KoaRefusal);
      expect((e as KoaRefusal).code).toBe('LEDGER_CHAIN_BROKEN');
      expect((e as KoaRefusal).details).toMatchObject({ index: 3, seq: 16 });
    }
  });

  it('Given an entry re-hashed after tampering, Then the NEXT entry breaks (prev-hash-mismatch)', () => {
    const chain = chainOf(4);
    const forged = nextEntry(chain[0].entryHash, chain[1].seq, chain[1].subject, { id: 'forged', source: chain[1].source, type: chain[1].type, tenantid: 'acme', time: chain[1].time });
    const result = verifyChain([chain[0], forged, chain[2], chain[3]]);
    expect(result).toMatchObject({ ok: false, index: 2, reason: 'prev-hash-mismatch' });
  });

  it('Given a removed entry, Then the entry after the hole breaks', () => {
    const chain = chainOf(4);
    expect(verifyChain([chain[0], chain[2], chain[3]])).toMatchObject({ ok: false, index: 1, reason: 'prev-hash-mismatch' });
  });

  it('refuses a sequence that does not increase', () => {
    const a = nextEntry(GENESIS_HASH, 5, 'koa.evt.acme.case.c1', { id: 'a', source: '/koa/x', type: 't', tenantid: 'acme', time: '2026-01-01T00:00:00Z' });
    const b = nextEntry(a.entryHash, 5, 'koa.evt.acme.case.c1', { id: 'b', source: '/koa/x', type: 't', tenantid: 'acme', time: '2026-01-01T00:00:00Z' });
    expect(verifyChain([a, b])).toMatchObject({ ok: false, index: 1, reason: 'seq-not-increasing' });
  });

  it('verifies page by page with a cursor, reporting absolute indexes', () => {
    const chain = chainOf(7);
    const first = verifyChainPage(chain.slice(0, 3), CHAIN_START);
    if (!first.ok) throw new Error('first page should verify');
    expect(verifyChain(chain.slice(3), first.next)).toMatchObject({ ok: true, size: 7 });
    const bad = chain.slice(3).map((e, i) => (i === 2 ? { ...e, eventDigest: e.prevHash } : e));
    expect(verifyChain(bad, first.next)).toMatchObject({ ok: false, index: 5 });
  });

  it('checkpoint: RFC 6962 Merkle root over entry hashes, changing with any entry', () => {
    expect(checkpoint([])).toEqual({ size: 0, root: `sha256:${createHash('sha256').digest('hex')}` });
    const chain = chainOf(5);
    const leaf = (e: LedgerEntry) => createHash('sha256').update(Buffer.from([0])).update(Buffer.from(e.entryHash.slice(7), 'hex')).digest();
    const node = (l: Buffer, r: Buffer) => createHash('sha256').update(Buffer.from([1])).update(l).update(r).digest();
    // n = 5: split at 4 ⇒ node(node(node(l0,l1),node(l2,l3)), l4)
    const [l0, l1, l2, l3, l4] = chain.map(leaf);
    const expected = node(node(node(l0, l1), node(l2, l3)), l4).toString('hex');
    expect(checkpoint(chain)).toEqual({ size: 5, root: `sha256:${expected}`, headHash: chain[4].entryHash });
    expect(checkpoint(chain.slice(0, 4)).root).not.toBe(checkpoint(chain).root);
  });
});
