/**
 * Interest tags: trimmed, lower-cased, Unicode NFC, at most `maxChars` code points each
 * (longer tags are cut), empty tags dropped, duplicates removed, at most `maxTags` kept (the first ones).
 */
export function normalizeInterests(raw: readonly string[], maxTags = 10, maxChars = 32): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length && out.length < maxTags; i++) {
    let tag = raw[i]!.normalize('NFC').trim().toLowerCase();
    if (tag.length > maxChars) {
      // Cut by code points, never inside a surrogate pair.
      const cps = Array.from(tag);
      if (cps.length > maxChars) tag = cps.slice(0, maxChars).join('').trim();
    }
    if (tag.length === 0 || out.includes(tag)) continue;
    out.push(tag);
  }
  return out;
}

/** True when both lists hold the same tags in the same order. */
export function sameInterests(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
