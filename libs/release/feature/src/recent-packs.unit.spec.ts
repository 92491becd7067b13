import { sha256Digest } from '@koa/contracts';
import { RecentPacks } from './recent-packs';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('RecentPacks', () => {
  it('keeps only bytes that hash to the digest, per tenant', () => {
    const packs = new RecentPacks();
    const good = bytes('pack one');
    expect(packs.put('acme', sha256Digest(good), good)).toBe(true);
    expect(packs.get('acme', sha256Digest(good))).toBe(good);
    expect(packs.get('other', sha256Digest(good))).toBeUndefined();
    // bytes that are not the named pack never get in
    expect(packs.put('acme', sha256Digest('something else'), good)).toBe(false);
    expect(packs.get('acme', sha256Digest('something else'))).toBeUndefined();
    // nor with a claimed hash that is not the digest
    expect(packs.put('acme', sha256Digest('x'), good, sha256Digest(good))).toBe(false);
  });

  it('is bounded per pack and in total, least recently used out first', () => {
    const packs = new RecentPacks(10, 20);
    const [a, b, c] = ['aaaaaaaa', 'bbbbbbbb', 'cccccccc'].map(bytes);
    expect(packs.put('t', sha256Digest('too long, eleven'), bytes('too long, eleven'))).toBe(false);
    packs.put('t', sha256Digest(a), a);
    packs.put('t', sha256Digest(b), b);
    packs.get('t', sha256Digest(a)); // a is now the most recently used
    packs.put('t', sha256Digest(c), c); // 24 bytes > 20: b goes
    expect(packs.get('t', sha256Digest(b))).toBeUndefined();
    expect(packs.get('t', sha256Digest(a))).toBe(a);
    expect(packs.get('t', sha256Digest(c))).toBe(c);
  });
});
