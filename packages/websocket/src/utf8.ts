/**
 * Incremental UTF-8 validation, for text that arrives in pieces (fragments, or one frame cut
 * across TCP reads), so invalid text fails on the piece where it appears (fail fast), not at
 * the end of the message. Whole messages use the native `isUtf8` instead.
 *
 * This is Bjoern Hoehrmann's DFA ("Flexible and Economical UTF-8 Decoder"): each byte maps to
 * a character class, and (state + class) to the next state. The state fits in one small
 * integer, so a connection's validation state costs nothing extra.
 */

/** The state after a complete, valid sequence. */
export const UTF8_ACCEPT = 0;
/** The state after an invalid byte; it is absorbing. */
export const UTF8_REJECT = 12;

// Byte -> character class.
const CLASS = new Uint8Array(256);
CLASS.fill(0, 0x00, 0x80);
CLASS.fill(1, 0x80, 0x90);
CLASS.fill(9, 0x90, 0xa0);
CLASS.fill(7, 0xa0, 0xc0);
CLASS.fill(8, 0xc0, 0xc2);
CLASS.fill(2, 0xc2, 0xe0);
CLASS[0xe0] = 10;
CLASS.fill(3, 0xe1, 0xed);
CLASS[0xed] = 4;
CLASS.fill(3, 0xee, 0xf0);
CLASS[0xf0] = 11;
CLASS.fill(6, 0xf1, 0xf4);
CLASS[0xf4] = 5;
CLASS.fill(8, 0xf5, 0x100);

// (state + class) -> next state; states are multiples of 12.
// prettier-ignore
const TRANSITION = new Uint8Array([
   0, 12, 24, 36, 60, 96, 84, 12, 12, 12, 48, 72,
  12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
  12,  0, 12, 12, 12, 12, 12,  0, 12,  0, 12, 12,
  12, 24, 12, 12, 12, 12, 12, 24, 12, 24, 12, 12,
  12, 12, 12, 12, 12, 12, 12, 24, 12, 12, 12, 12,
  12, 24, 12, 12, 12, 12, 12, 12, 12, 24, 12, 12,
  12, 12, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12,
  12, 36, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12,
  12, 36, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
]);

/**
 * Feeds `bytes[start, end)` to the validator in `state` and returns the new state:
 * UTF8_ACCEPT at a character boundary, UTF8_REJECT once invalid, anything else mid-character.
 */
export function utf8Step(state: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  let i = start;
  // Fast path: ASCII at a character boundary needs no table lookups.
  if (state === UTF8_ACCEPT) {
    while (i < end && bytes[i]! < 0x80) i++;
  }
  for (; i < end; i++) {
    state = TRANSITION[state + CLASS[bytes[i]!]!]!;
    if (state === UTF8_REJECT) return UTF8_REJECT;
  }
  return state;
}
