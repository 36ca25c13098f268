/**
 * UTF-8 test vectors shared by the unit tests (test/ws/utf8.test.ts) and the conformance
 * suite (test/conformance/utf8.test.ts).
 *
 * Grouped like Autobahn TestSuite section 6.5 to 6.23, which follows Markus Kuhn's
 * "UTF-8 decoder capability and stress test" (UTF-8-test.txt): group `6.<n>`, case `6.<n>.<m>`.
 * `valid` is whether the bytes are a complete, well-formed UTF-8 string (RFC 3629): no
 * surrogates, nothing above U+10FFFF, no overlong forms, no truncated sequence at the end.
 */

/** One UTF-8 test vector. */
export interface Utf8Vector {
  /** Autobahn-style id, e.g. `6.12.3`. */
  readonly id: string;
  /** The group's title. */
  readonly group: string;
  readonly valid: boolean;
  readonly bytes: Buffer;
}

/** Bytes from hex with optional spaces: `hex('ce ba')`. */
export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

const text = (s: string): Buffer => Buffer.from(s, 'latin1');

/** "κόσμε": five code points of 2, 3, 2, 2, 2 bytes (Kuhn's section 1). */
export const KOSME = hex('ce ba e1 bd b9 cf 83 ce bc ce b5');
/** Offsets in KOSME where a code point ends (a prefix of that length is valid). */
const KOSME_BOUNDARIES = new Set([0, 2, 5, 7, 9, 11]);

type Group = readonly [title: string, cases: readonly (readonly [valid: boolean, bytes: Buffer])[]];

function groups(): Group[] {
  const out: Group[] = [];
  out.push(['Some valid UTF-8 sequences', [
    [true, Buffer.concat([text('hello'), hex('24'), text('world')])],
    [true, Buffer.concat([text('hello'), hex('c2 a2'), text('world')])],
    [true, Buffer.concat([text('hello'), hex('e2 82 ac'), text('world')])],
    [true, Buffer.concat([text('hello'), hex('f0 a4 ad a2'), text('world')])],
    [true, KOSME],
  ]]);
  const prefixes: [boolean, Buffer][] = [];
  for (let i = 1; i <= KOSME.length; i++) prefixes.push([KOSME_BOUNDARIES.has(i), KOSME.subarray(0, i)]);
  out.push(['All prefixes of a valid UTF-8 string that contains multi-byte code points', prefixes]);
  out.push(['First possible sequence of a certain length', [
    [true, hex('00')], [true, hex('c2 80')], [true, hex('e0 a0 80')], [true, hex('f0 90 80 80')],
  ]]);
  out.push(['First possible sequence length 5/6 (invalid codepoints)', [
    [false, hex('f8 88 80 80 80')], [false, hex('fc 84 80 80 80 80')],
  ]]);
  out.push(['Last possible sequence of a certain length', [
    [true, hex('7f')], [true, hex('df bf')], [true, hex('ef bf bf')], [true, hex('f4 8f bf bf')],
  ]]);
  out.push(['Last possible sequence length 4/5/6 (invalid codepoints)', [
    [false, hex('f7 bf bf bf')], [false, hex('fb bf bf bf bf')], [false, hex('fd bf bf bf bf bf')],
  ]]);
  out.push(['Other boundary conditions', [
    [true, hex('ed 9f bf')], [true, hex('ee 80 80')], [true, hex('ef bf bd')], [true, hex('f4 8f bf bf')],
    [false, hex('f4 90 80 80')],
  ]]);
  const allContinuations = Buffer.alloc(0xbf - 0x80);
  for (let i = 0; i < allContinuations.length; i++) allContinuations[i] = 0x80 + i;
  out.push(['Unexpected continuation bytes', [
    [false, hex('80')], [false, hex('bf')], [false, hex('80 bf')], [false, hex('80 bf 80')],
    [false, hex('80 bf 80 bf')], [false, hex('80 bf 80 bf 80')], [false, hex('80 bf 80 bf 80 bf')],
    [false, allContinuations],
  ]]);
  // Each lead byte of a range followed by a space: the lead byte is never completed.
  const lonely = ([from, to]: readonly [number, number]): Buffer => {
    const b: number[] = [];
    for (let i = from; i < to; i++) b.push(i, 0x20);
    return Buffer.from(b);
  };
  out.push(['Lonely start characters', ([[0xc0, 0xdf], [0xe0, 0xef], [0xf0, 0xf7], [0xf8, 0xfb], [0xfc, 0xfd]] as const)
    .map((r) => [false, lonely(r)] as const)]);
  const truncated = ['c0', 'e0 80', 'f0 80 80', 'f8 80 80 80', 'fc 80 80 80 80',
    'df', 'ef bf', 'f7 bf bf', 'fb bf bf bf', 'fd bf bf bf bf'].map(hex);
  out.push(['Sequences with last continuation byte missing', truncated.map((b) => [false, b] as const)]);
  out.push(['Concatenation of incomplete sequences', [[false, Buffer.concat(truncated)]]]);
  out.push(['Impossible bytes', [[false, hex('fe')], [false, hex('ff')], [false, hex('fe fe ff ff')]]]);
  out.push(['Examples of an overlong ASCII character', [
    [false, hex('c0 af')], [false, hex('e0 80 af')], [false, hex('f0 80 80 af')],
    [false, hex('f8 80 80 80 af')], [false, hex('fc 80 80 80 80 af')],
  ]]);
  out.push(['Maximum overlong sequences', [
    [false, hex('c1 bf')], [false, hex('e0 9f bf')], [false, hex('f0 8f bf bf')],
    [false, hex('f8 87 bf bf bf')], [false, hex('fc 83 bf bf bf bf')],
  ]]);
  out.push(['Overlong representation of the NUL character', [
    [false, hex('c0 80')], [false, hex('e0 80 80')], [false, hex('f0 80 80 80')],
    [false, hex('f8 80 80 80 80')], [false, hex('fc 80 80 80 80 80')],
  ]]);
  out.push(['Single UTF-16 surrogates', ['ed a0 80', 'ed ad bf', 'ed ae 80', 'ed af bf', 'ed b0 80', 'ed be 80', 'ed bf bf']
    .map((s) => [false, hex(s)] as const)]);
  out.push(['Paired UTF-16 surrogates', ['ed a0 80 ed b0 80', 'ed a0 80 ed bf bf', 'ed ad bf ed b0 80', 'ed ad bf ed bf bf',
    'ed ae 80 ed b0 80', 'ed ae 80 ed bf bf', 'ed af bf ed b0 80', 'ed af bf ed bf bf']
    .map((s) => [false, hex(s)] as const)]);
  // Non-characters are well-formed UTF-8 (RFC 3629 does not exclude them).
  const nonChars: [boolean, Buffer][] = [[true, hex('ef bf be')], [true, hex('ef bf bf')]];
  for (const lead of [0xf0, 0xf1, 0xf2, 0xf3, 0xf4]) {
    for (const second of [0x8f, 0x9f, 0xaf, 0xbf]) {
      if (lead === 0xf4 && second !== 0x8f) continue; // above U+10FFFF
      if (lead === 0xf0 && second === 0x8f) continue; // overlong
      for (const last of [0xbe, 0xbf]) nonChars.push([true, Buffer.from([lead, second, 0xbf, last])]);
    }
  }
  out.push(['Non-character code points (valid UTF-8)', nonChars]);
  out.push(['Unicode specials (i.e. replacement char)', ['ef bf b9', 'ef bf ba', 'ef bf bb', 'ef bf bc', 'ef bf bd', 'ef bf be', 'ef bf bf']
    .map((s) => [true, hex(s)] as const)]);
  return out;
}

/** Every vector, in Autobahn order (6.5.1 ... 6.23.7). */
export const UTF8_VECTORS: readonly Utf8Vector[] = groups().flatMap(([group, cases], g) =>
  cases.map(([valid, bytes], c) => ({ id: `6.${g + 5}.${c + 1}`, group, valid, bytes })));

/**
 * Fail-fast vectors (Autobahn 6.4.x): KOSME, then a 4-byte sequence for U+110000 (out of
 * range: invalid at its 2nd byte, 0x90, offset 12 of the message), then "edited".
 */
export const FAIL_FAST = {
  part1: KOSME,
  part2: hex('f4 90 80 80'),
  part3: text('edited'),
  /** Offset of the first byte that makes the message invalid. */
  invalidAt: 12,
} as const;
