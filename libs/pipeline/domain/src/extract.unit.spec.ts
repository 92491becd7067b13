import { KoaRefusal, sha256Digest } from '@koa/contracts';
import { extractInput, normaliseMediaType } from './extract';
import type { PipelineInput } from './types';

const input = (mediaType: string, text: string | Uint8Array): PipelineInput => {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
  return { digest: sha256Digest(bytes), mediaType, bytes };
};
const refusal = (f: () => unknown): KoaRefusal => {
  try {
    f();
  } catch (e) {
    if (e instanceof KoaRefusal) return e;
    throw e;
  }
  throw new Error('expected a KoaRefusal');
};

describe('extract: application/json', () => {
  it('an object is one record; extra top-level scalars and "attributes" become attributes', () => {
    const [r] = extractInput(input('application/json', '{"id":"a1","type":"equipment","title":"T","text":"x","site":"n","attributes":{"rating":3,"ok":true,"gone":null}}'));
    expect(r).toMatchObject({ id: 'a1', type: 'equipment', title: 'T', text: 'x', attributes: { site: 'n', rating: 3, ok: true, gone: null }, location: 'record' });
  });
  it('an array is records; {entities:[...]} is records; missing type/title/text become ""', () => {
    expect(extractInput(input('application/json', '[{"id":"a"},{"id":"b"}]')).map((r) => [r.id, r.title, r.type, r.text, r.location])).toEqual([
      ['a', '', '', '', 'record [0]'],
      ['b', '', '', '', 'record [1]'],
    ]);
    expect(extractInput(input('application/json; charset=UTF-8', '{"entities":[{"id":"a"}]}')).map((r) => r.id)).toEqual(['a']);
  });
  it('a parse error names the digest and the line', () => {
    const i = input('application/json', '{\n"id": "a",\n}');
    const r = refusal(() => extractInput(i));
    expect(r.code).toBe('EXTRACT_PARSE_FAILED');
    expect(r.details).toMatchObject({ digest: i.digest, line: 3 });
    expect(r.message).toContain(i.digest);
  });
  it.each([
    ['no id', '{"title":"x"}'],
    ['a numeric id', '{"id":7}'],
    ['a nested object field', '{"id":"a","spec":{"x":1}}'],
    ['an array attribute', '{"id":"a","attributes":{"tags":["x"]}}'],
    ['a non-string title', '{"id":"a","title":5}'],
    ['a key given twice (top level and attributes)', '{"id":"a","k":1,"attributes":{"k":1}}'],
    ['a scalar document', '"hello"'],
  ])('refuses %s with EXTRACT_PARSE_FAILED', (_w, text) => {
    expect(refusal(() => extractInput(input('application/json', text))).code).toBe('EXTRACT_PARSE_FAILED');
  });
  it('refuses bytes that are not UTF-8', () => {
    expect(refusal(() => extractInput(input('application/json', new Uint8Array([0x7b, 0xff, 0x7d])))).code).toBe('EXTRACT_PARSE_FAILED');
  });
});

describe('extract: application/x-ndjson', () => {
  it('one record per non-blank line, CRLF tolerated, location = line', () => {
    const rs = extractInput(input('application/x-ndjson', '{"id":"a"}\r\n\r\n{"id":"b","title":"B"}\n'));
    expect(rs.map((r) => [r.id, r.location])).toEqual([['a', 'line 1'], ['b', 'line 3']]);
  });
  it('a bad line is named', () => {
    const r = refusal(() => extractInput(input('application/x-ndjson', '{"id":"a"}\n{"id":"b",}\n')));
    expect(r.code).toBe('EXTRACT_PARSE_FAILED');
    expect(r.details).toMatchObject({ line: 2 });
  });
});

describe('extract: text/markdown with front matter', () => {
  const md = ['---', 'id: proc-1', 'type: procedure', "title: 'It''s: quoted'", '# comment', '', 'minutes: 90', 'permit: true', 'note: "a \\"b\\""', 'nothing: null', 'version: 1.10', 'flag: yes', '---', '', 'Body line 1', 'Body line 2', ''].join('\n');
  it('front matter scalars are typed strictly; the trimmed body is the text', () => {
    const [r] = extractInput(input('text/markdown', md));
    expect(r).toMatchObject({
      id: 'proc-1',
      type: 'procedure',
      title: "It's: quoted",
      text: 'Body line 1\nBody line 2',
      attributes: { minutes: 90, permit: true, note: 'a "b"', nothing: null, version: 1.1, flag: 'yes' },
    });
  });
  it.each([
    ['no front matter', 'just text', 1],
    ['unclosed front matter', '---\nid: a\n', 3],
    ['a line without a colon', '---\nid: a\nbroken line\n---\n', 3],
    ['a nested (indented) value', '---\nid: a\n  child: 1\n---\n', 3],
    ['a list value', '---\nid: a\ntags: [x, y]\n---\n', 3],
    ['a duplicate key', '---\nid: a\nid: b\n---\n', 3],
    ['a missing id', '---\ntitle: x\n---\n', 1],
    ['a reserved key', '---\nid: a\ntext: x\n---\n', 3],
    ['an unterminated quote', '---\nid: a\ntitle: "x\n---\n', 3],
  ])('refuses %s with EXTRACT_PARSE_FAILED naming line %s', (_w, text, line) => {
    const r = refusal(() => extractInput(input('text/markdown', text)));
    expect(r.code).toBe('EXTRACT_PARSE_FAILED');
    expect(r.details).toMatchObject({ line });
  });
});

describe('extract: text/plain', () => {
  it('one document: id from the digest, title = first non-blank line', () => {
    const i = input('text/plain', '\n  Safety bulletin  \nSecond line\n');
    const [r] = extractInput(i);
    expect(r).toMatchObject({ id: `doc-${i.digest.slice(7, 23)}`, type: 'document', title: 'Safety bulletin', text: 'Safety bulletin  \nSecond line', attributes: {} });
  });
});

describe('extract: media types', () => {
  it.each(['application/pdf', 'text/html', 'text/plain; charset=latin1', ''])('refuses %j with EXTRACT_UNSUPPORTED_MEDIA', (m) => {
    const i = input(m, 'x');
    const r = refusal(() => extractInput(i));
    expect(r.code).toBe('EXTRACT_UNSUPPORTED_MEDIA');
    expect(r.details).toMatchObject({ digest: i.digest });
  });
  it('normalises case and parameters', () => {
    expect(normaliseMediaType('Text/Markdown; charset="UTF-8"')).toBe('text/markdown');
    expect(normaliseMediaType('application/x-ndjson;charset=utf8')).toBe('application/x-ndjson');
  });
});
