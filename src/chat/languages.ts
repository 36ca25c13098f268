/**
 * Searching users per language, for `/stats` and the metrics. Cardinality stays bounded: only
 * the top {@link TOP_LANGUAGES} languages are named, the rest are summed as `other` (language
 * codes are 2 or 3 letters, so `other` never collides). Users without a language are not counted
 * here (they are the rest of `searching`).
 */

/** Languages named in counts; the rest are `other`. */
export const TOP_LANGUAGES = 10;

export class LanguageCounts {
  readonly #n = new Map<string, number>();

  /** One user more (`d` 1) or less (-1) searching in `lang` ('' is ignored). */
  add(lang: string, d: number): void {
    if (lang === '') return;
    const v = (this.#n.get(lang) ?? 0) + d;
    if (v <= 0) this.#n.delete(lang);
    else this.#n.set(lang, v);
  }

  /** The top languages and `other`, as a plain object. */
  top(limit = TOP_LANGUAGES): Record<string, number> {
    return topOf(this.#n, limit);
  }

  /**
   * The cluster's counts: the engine's sum `all`, with this node's share (`reported` last) replaced by
   * its live counts `mine`; then the top languages again.
   */
  static cluster(all: Readonly<Record<string, number>> | undefined, reported: Readonly<Record<string, number>> | undefined, mine: Readonly<Record<string, number>> | undefined): Record<string, number> {
    const m = new Map<string, number>();
    for (const [k, v] of Object.entries(all ?? {})) m.set(k, (m.get(k) ?? 0) + v);
    for (const [k, v] of Object.entries(reported ?? {})) m.set(k, (m.get(k) ?? 0) - v);
    for (const [k, v] of Object.entries(mine ?? {})) m.set(k, Math.max(v, (m.get(k) ?? 0) + v));
    return topOf(m, TOP_LANGUAGES);
  }
}

/** The `limit` largest counts by name, the others (and any `other` given) summed as `other`. */
function topOf(counts: ReadonlyMap<string, number>, limit: number): Record<string, number> {
  const named = [...counts].filter(([k, v]) => k !== 'other' && v > 0).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const out: Record<string, number> = {};
  let other = Math.max(0, counts.get('other') ?? 0);
  named.forEach(([k, v], i) => {
    if (i < limit) out[k] = v;
    else other += v;
  });
  if (other > 0) out.other = other;
  return out;
}

/** Sums per-language counts (presence of several nodes). */
export function sumLanguages(into: Record<string, number>, add: Readonly<Record<string, number>> | undefined): void {
  if (add === undefined) return;
  for (const [k, v] of Object.entries(add)) if (Number.isFinite(v) && v > 0) into[k] = (into[k] ?? 0) + v;
}
