/**
 * The language the page searches in (`find.lang`, `ask.lang`): the browser's by default, another
 * one the user picks, or none ("any language"); the choice is remembered in localStorage.
 */

const STORAGE_KEY = 'strangers.lang';

/** Languages offered in the picker (BCP 47 primary subtags), with their own names. */
export const LANGUAGES: ReadonlyArray<readonly [string, string]> = [
  ['ar', 'العربية'], ['bn', 'বাংলা'], ['de', 'Deutsch'], ['el', 'Ελληνικά'], ['en', 'English'], ['es', 'Español'],
  ['fa', 'فارسی'], ['fr', 'Français'], ['he', 'עברית'], ['hi', 'हिन्दी'], ['id', 'Bahasa Indonesia'], ['it', 'Italiano'],
  ['ja', '日本語'], ['ko', '한국어'], ['nl', 'Nederlands'], ['pl', 'Polski'], ['pt', 'Português'], ['ro', 'Română'],
  ['ru', 'Русский'], ['sv', 'Svenska'], ['th', 'ไทย'], ['tr', 'Türkçe'], ['uk', 'Українська'], ['vi', 'Tiếng Việt'], ['zh', '中文'],
];

/** The primary subtag of a BCP 47 tag ("pt-BR" → "pt"), or '' when it is not 2 or 3 letters. */
export function primaryLanguage(tag: string): string {
  const primary = tag.split('-')[0]?.toLowerCase() ?? '';
  return /^[a-z]{2,3}$/.test(primary) ? primary : '';
}

/** The browser's preferred language's primary subtag ('' if none can be read). */
export function browserLanguage(): string {
  for (const tag of navigator.languages ?? [navigator.language]) {
    const p = primaryLanguage(tag ?? '');
    if (p !== '') return p;
  }
  return '';
}

/** The remembered choice ('' for any language), or the browser's language when there is none. */
export function loadLanguage(): string {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved !== null) return saved === 'any' ? '' : primaryLanguage(saved);
  } catch {
    // Storage disabled: the browser's language.
  }
  return browserLanguage();
}

export function saveLanguage(lang: string): void {
  try {
    localStorage.setItem(STORAGE_KEY, lang === '' ? 'any' : lang);
  } catch {
    // Not remembered.
  }
}

/** The language's own name (the subtag itself for one the list does not have). */
export function languageName(lang: string): string {
  return LANGUAGES.find(([code]) => code === lang)?.[1] ?? lang;
}

/** Fills the picker: "Any language", the browser's language first, then the others. */
export function fillPicker(select: HTMLSelectElement, current: string): void {
  const mine = browserLanguage();
  const codes = LANGUAGES.map(([code]) => code);
  if (mine !== '' && !codes.includes(mine)) codes.unshift(mine);
  if (current !== '' && !codes.includes(current)) codes.unshift(current);
  const options = [new Option('Any language', '')];
  const ordered = mine === '' ? codes : [mine, ...codes.filter((c) => c !== mine)];
  for (const code of ordered) options.push(new Option(code === mine ? `${languageName(code)} (your browser)` : languageName(code), code));
  select.replaceChildren(...options);
  select.value = current;
}
