/**
 * The moderator console (`GET /admin/`): the report queue with its evidence, and ban, unban and
 * dismiss, over the moderator API (docs/protocol.md, src/http/admin-routes.ts).
 *
 * The page holds no data until the moderator gives the admin token; the token is kept in
 * sessionStorage (this tab only) and sent as `Authorization: Bearer` with every call. Chat text
 * is evidence written by strangers: it is always put in the page with `textContent`.
 */

/** One line of evidence (the wire shape). */
interface EvidenceLine {
  readonly from: 'target' | 'reporter';
  readonly text: string;
  readonly at: number;
}

/** One case of the queue (the wire shape of `GET /admin/reports`). */
interface Case {
  readonly id: string;
  readonly at: number;
  readonly reason: string;
  readonly reporters: number;
  readonly automatic: boolean;
  readonly target: { readonly person: string; readonly banned: boolean };
  readonly evidence: readonly EvidenceLine[];
}

const TOKEN_KEY = 'strangers.admin-token';

const Timing = {
  /** The queue is fetched again this often while the tab is visible. */
  refreshMs: 10_000,
  toastMs: 4000,
} as const;

/** Ban length the form starts with, and the API's bounds (admin-routes.ts). */
const BanMinutes = { initial: 30, min: 1, max: 30 * 24 * 60 } as const;

/** Report reasons (src/engine/engine.ts ReportReason), in words. */
const ReasonText: Record<string, string> = {
  spam: 'Spam',
  harassment: 'Harassment',
  sexual: 'Sexual content',
  minor: 'May be a minor',
  other: 'Other',
};

/** Stable API error codes, in words. */
const ErrorText: Record<string, string> = {
  engine_unavailable: 'The moderation store is unreachable (Redis down?). Try again in a moment.',
  bad_request: 'The server refused the request.',
  too_large: 'The request was too large.',
  not_found: 'Not found: someone may have handled it already.',
};

function $<T extends HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`#${id} missing from admin/index.html`);
  return node as T;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className !== '') node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const ui = {
  app: $<HTMLDivElement>('app'),
  topActions: $<HTMLDivElement>('top-actions'),
  updated: $<HTMLParagraphElement>('updated'),
  refresh: $<HTMLButtonElement>('refresh'),
  signout: $<HTMLButtonElement>('signout'),
  signin: $<HTMLElement>('signin'),
  signinForm: $<HTMLFormElement>('signin-form'),
  token: $<HTMLInputElement>('token'),
  signinButton: $<HTMLButtonElement>('signin-button'),
  signinError: $<HTMLParagraphElement>('signin-error'),
  queue: $<HTMLElement>('queue'),
  queueTitle: $<HTMLHeadingElement>('queue-title'),
  count: $<HTMLParagraphElement>('count'),
  problem: $<HTMLDivElement>('problem'),
  empty: $<HTMLParagraphElement>('empty'),
  cases: $<HTMLOListElement>('cases'),
  toast: $<HTMLDivElement>('toast'),
};

// ---- the token ---------------------------------------------------------------------------------

function loadToken(): string {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

function saveToken(value: string): void {
  try {
    if (value === '') sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, value);
  } catch {
    // Storage disabled: the token lives in this page only and a reload asks for it again.
  }
}

let token = loadToken();

// ---- the API -----------------------------------------------------------------------------------

/** A failed call: `status` 0 when the server could not be reached. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

async function api(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, bearer = token): Promise<unknown> {
  const headers: Record<string, string> = { authorization: `Bearer ${bearer}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'same-origin',
      referrerPolicy: 'no-referrer',
    });
  } catch {
    throw new ApiError(0, 'network', "Can't reach the server. Check the connection; the queue is refreshed when it is back.");
  }
  let parsed: unknown;
  try {
    parsed = await res.json();
  } catch {
    parsed = undefined;
  }
  if (res.ok) return parsed;
  const info = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as { error?: unknown; detail?: unknown };
  const code = typeof info.error === 'string' ? info.error : 'http';
  if (res.status === 401) throw new ApiError(401, 'unauthorized', 'The server refused this token.');
  const detail = typeof info.detail === 'string' ? ` (${info.detail})` : '';
  const words = ErrorText[code] ?? `The server answered ${res.status}${code === 'http' ? '' : ` ${code}`}.`;
  throw new ApiError(res.status, code, `${words}${detail}`);
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null;
}

/** The queue from `GET /admin/reports`; anything malformed is left out rather than trusted. */
function parseCases(body: unknown): Case[] {
  if (!isRecord(body) || !Array.isArray(body.reports)) throw new ApiError(200, 'bad_response', 'The server sent a queue this page does not understand.');
  const out: Case[] = [];
  for (const r of body.reports as unknown[]) {
    if (!isRecord(r) || !isRecord(r.target)) continue;
    const id = r.id;
    const target = r.target;
    if (typeof id !== 'string' || typeof target.person !== 'string') continue;
    const lines: EvidenceLine[] = [];
    if (Array.isArray(r.evidence)) {
      for (const l of r.evidence as unknown[]) {
        if (!isRecord(l) || typeof l.text !== 'string') continue;
        lines.push({ from: l.from === 'reporter' ? 'reporter' : 'target', text: l.text, at: typeof l.at === 'number' ? l.at : 0 });
      }
    }
    out.push({
      id,
      at: typeof r.at === 'number' ? r.at : 0,
      reason: typeof r.reason === 'string' ? r.reason : 'other',
      reporters: typeof r.reporters === 'number' ? r.reporters : 0,
      automatic: r.automatic === true,
      target: { person: target.person, banned: target.banned === true },
      evidence: lines,
    });
  }
  return out;
}

// ---- words -------------------------------------------------------------------------------------

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function ago(at: number, now: number): string {
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} h ago`;
  return dateTimeFormat.format(at);
}

function timeNode(at: number, text: string): HTMLTimeElement {
  const t = el('time', '', text);
  if (at > 0) {
    t.dateTime = new Date(at).toISOString();
    t.title = dateTimeFormat.format(at);
  }
  return t;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

// ---- one case ----------------------------------------------------------------------------------

/**
 * The card of one case. Built once and updated in place on every refresh, so that a refresh
 * never takes the focus or a half-typed ban length away from the moderator.
 */
class CaseCard {
  readonly root = el('li', 'case');
  #case: Case;
  #signature = '';
  readonly #title = el('h2', 'case-title');
  readonly #badges = el('span', 'badges');
  readonly #time = el('p', 'case-time');
  readonly #facts = el('dl', 'facts');
  readonly #evidence = el('ol', 'evidence');
  readonly #minutes = el('input');
  readonly #ban = el('button', 'btn small danger', 'Ban');
  readonly #unban = el('button', 'btn small', 'Unban');
  readonly #dismiss = el('button', 'btn small ghost dismiss', 'Dismiss');
  /** An action is under way: the buttons wait (aria-disabled, not disabled, so focus stays put). */
  #pending = false;

  constructor(c: Case) {
    this.#case = c;
    const titleId = `case-${c.id}-title`;
    this.root.tabIndex = -1;
    this.root.dataset.id = c.id;
    this.root.setAttribute('aria-labelledby', titleId);
    this.#title.id = titleId;

    const head = el('div', 'case-head');
    head.append(this.#title, this.#badges, this.#time);

    const evidenceTitle = el('h3', 'evidence-title', 'Evidence');
    evidenceTitle.id = `case-${c.id}-evidence`;
    this.#evidence.setAttribute('aria-labelledby', evidenceTitle.id);

    const form = el('form', 'ban');
    form.noValidate = true;
    const label = el('label', '', 'Minutes');
    this.#minutes.type = 'number';
    this.#minutes.name = 'minutes';
    this.#minutes.min = String(BanMinutes.min);
    this.#minutes.max = String(BanMinutes.max);
    this.#minutes.step = '1';
    this.#minutes.value = String(BanMinutes.initial);
    this.#minutes.inputMode = 'numeric';
    this.#minutes.required = true;
    label.append(this.#minutes);
    this.#ban.type = 'submit';
    form.append(label, this.#ban);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.#doBan();
    });
    this.#unban.type = 'button';
    this.#unban.addEventListener('click', () => void this.#doUnban());
    this.#dismiss.type = 'button';
    this.#dismiss.addEventListener('click', () => void this.#doDismiss());

    const actions = el('div', 'actions');
    actions.append(form, this.#unban, this.#dismiss);
    this.root.append(head, this.#facts, evidenceTitle, this.#evidence, actions);
    this.update(c, Date.now());
  }

  get id(): string {
    return this.#case.id;
  }

  /** Shows `c`; the parts that did not change are left alone. */
  update(c: Case, now: number): void {
    this.#case = c;
    const reason = ReasonText[c.reason] ?? c.reason;
    this.#time.replaceChildren(timeNode(c.at, ago(c.at, now)));
    const signature = JSON.stringify(c);
    if (signature === this.#signature) return;
    this.#signature = signature;

    this.#title.textContent = reason;
    this.root.classList.toggle('is-banned', c.target.banned);
    const badges: HTMLElement[] = [];
    if (c.automatic) badges.push(el('span', 'badge auto', 'Automatic: spam wave'));
    badges.push(c.target.banned ? el('span', 'badge banned', 'Banned') : el('span', 'badge free', 'Not banned'));
    this.#badges.replaceChildren(...badges);

    const person = el('span', 'person');
    const code = el('code', 'person-id', c.target.person);
    const copy = el('button', 'btn ghost copy', 'Copy');
    copy.type = 'button';
    copy.setAttribute('aria-label', 'Copy the person id');
    copy.addEventListener('click', () => void copyText(c.target.person, code));
    person.append(code, copy);
    this.#facts.replaceChildren(
      el('dt', '', 'Reported person'),
      withChildren(el('dd'), person),
      el('dt', '', 'Reporters'),
      el('dd', '', c.automatic ? 'none: the server found this itself' : plural(c.reporters, 'person', 'different people')),
    );

    this.#evidence.replaceChildren(
      ...c.evidence.map((line) => {
        const li = el('li', `line from-${line.from}`);
        const meta = el('p', 'line-meta');
        meta.append(el('b', '', line.from === 'target' ? 'Reported person' : 'Reporter'), ' · ', timeNode(line.at, line.at > 0 ? timeFormat.format(line.at) : ''));
        li.append(meta, el('p', 'line-text', line.text)); // textContent: never parsed as HTML
        return li;
      }),
    );

    this.#unban.hidden = !c.target.banned;
  }

  #busy(on: boolean): void {
    this.#pending = on;
    for (const b of [this.#ban, this.#unban, this.#dismiss]) b.setAttribute('aria-disabled', String(on));
    this.root.setAttribute('aria-busy', String(on));
  }

  async #run(action: () => Promise<string>): Promise<void> {
    if (this.#pending) return;
    this.#busy(true);
    try {
      const done = await action();
      toast(done);
      await refresh();
    } catch (err) {
      handleError(err);
      if (err instanceof ApiError && err.status === 404) await refresh();
    } finally {
      this.#busy(false);
    }
  }

  #doBan(): Promise<void> {
    const minutes = Number(this.#minutes.value);
    if (!Number.isInteger(minutes) || minutes < BanMinutes.min || minutes > BanMinutes.max) {
      showProblem(`Ban length: a whole number of minutes from ${BanMinutes.min} to ${BanMinutes.max} (30 days).`);
      this.#minutes.focus();
      return Promise.resolve();
    }
    const person = this.#case.target.person;
    return this.#run(async () => {
      const body = await api('POST', '/admin/bans', { person, minutes });
      const until = isRecord(body) && typeof body.until === 'number' ? body.until : Date.now() + minutes * 60_000;
      return `Banned for ${plural(minutes, 'minute', 'minutes')}, until ${dateTimeFormat.format(until)}.`;
    });
  }

  #doUnban(): Promise<void> {
    const person = this.#case.target.person;
    return this.#run(async () => {
      await api('DELETE', `/admin/bans/${encodeURIComponent(person)}`);
      this.#ban.focus(); // the Unban button is about to disappear
      return 'Ban lifted (the address ban with it).';
    });
  }

  #doDismiss(): Promise<void> {
    const id = this.#case.id;
    return this.#run(async () => {
      await api('POST', `/admin/reports/${encodeURIComponent(id)}/dismiss`);
      return 'Case dismissed; its evidence is deleted.';
    });
  }
}

function withChildren<T extends HTMLElement>(parent: T, ...children: Node[]): T {
  parent.append(...children);
  return parent;
}

async function copyText(text: string, source: HTMLElement): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    toast('Person id copied.');
  } catch {
    // No clipboard (plain http on another host): select it for Ctrl+C instead.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = getSelection();
    selection?.removeAllRanges();
    selection?.addRange(range);
    toast('Selected: press Ctrl+C (⌘C) to copy.');
  }
}

// ---- the queue ---------------------------------------------------------------------------------

const cards = new Map<string, CaseCard>();
let refreshing: Promise<void> | undefined;
let queued: Promise<void> | undefined;
/** Counts sign-ins and sign-outs: an answer that arrives after one belongs to no one. */
let signIns = 0;
let refreshTimer: ReturnType<typeof setInterval> | undefined;
let toastTimer: ReturnType<typeof setTimeout> | undefined;

function showQueue(cases: readonly Case[]): void {
  const now = Date.now();
  const seen = new Set<string>();
  let focusLost = false;
  cases.forEach((c, i) => {
    seen.add(c.id);
    let card = cards.get(c.id);
    if (card === undefined) {
      card = new CaseCard(c);
      cards.set(c.id, card);
    } else {
      card.update(c, now);
    }
    // Only move a card that is out of place (moving one takes its focus away).
    if (ui.cases.children[i] !== card.root) ui.cases.insertBefore(card.root, ui.cases.children[i] ?? null);
  });
  for (const card of [...cards.values()]) {
    if (seen.has(card.id)) continue;
    if (card.root.contains(document.activeElement)) focusLost = true;
    card.root.remove();
    cards.delete(card.id);
  }
  if (focusLost) {
    const next = ui.cases.firstElementChild;
    (next instanceof HTMLElement ? next : ui.queueTitle).focus();
  }
  ui.count.textContent = cases.length === 0 ? '' : plural(cases.length, 'open case', 'open cases');
  ui.empty.hidden = cases.length !== 0;
  ui.updated.textContent = `Updated ${timeFormat.format(now)}`;
}

/**
 * Fetches the queue and shows it (or what went wrong). A call while a fetch is in flight gets a
 * fresh fetch after it (never the older answer: an action must see its own result).
 */
function refresh(): Promise<void> {
  if (refreshing !== undefined) {
    queued ??= refreshing.then(() => {
      queued = undefined;
      return refresh();
    });
    return queued;
  }
  const session = signIns;
  refreshing = (async () => {
    try {
      const cases = parseCases(await api('GET', '/admin/reports'));
      if (session !== signIns || token === '') return; // signed out meanwhile
      showQueue(cases);
      hideProblem();
    } catch (err) {
      if (session === signIns && token !== '') handleError(err);
    }
  })().finally(() => {
    refreshing = undefined;
  });
  return refreshing;
}

// ---- messages ----------------------------------------------------------------------------------

function showProblem(text: string): void {
  ui.problem.textContent = text;
  ui.problem.hidden = false;
}

function hideProblem(): void {
  ui.problem.hidden = true;
  ui.problem.textContent = '';
}

function handleError(err: unknown): void {
  if (err instanceof ApiError && err.status === 401) {
    signOut('The server no longer accepts the token. Enter it again.');
    return;
  }
  showProblem(err instanceof Error ? err.message : String(err));
}

function toast(text: string): void {
  ui.toast.textContent = text;
  ui.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    ui.toast.hidden = true;
  }, Timing.toastMs);
}

// ---- signing in and out ------------------------------------------------------------------------

function showView(view: 'signin' | 'queue'): void {
  ui.app.dataset.view = view;
  ui.signin.hidden = view !== 'signin';
  ui.queue.hidden = view !== 'queue';
  ui.topActions.hidden = view !== 'queue';
}

function signedIn(): void {
  showView('queue');
  ui.signinError.hidden = true;
  clearInterval(refreshTimer);
  refreshTimer = setInterval(() => {
    if (document.visibilityState === 'visible') void refresh();
  }, Timing.refreshMs);
}

function signOut(why = ''): void {
  signIns++;
  token = '';
  saveToken('');
  clearInterval(refreshTimer);
  refreshTimer = undefined;
  for (const card of cards.values()) card.root.remove();
  cards.clear();
  hideProblem();
  ui.updated.textContent = '';
  ui.count.textContent = '';
  ui.toast.hidden = true;
  showView('signin');
  ui.signinError.textContent = why;
  ui.signinError.hidden = why === '';
  ui.token.value = '';
  ui.token.focus();
}

async function signIn(value: string): Promise<void> {
  if (value === '') {
    ui.signinError.textContent = 'Enter the admin token.';
    ui.signinError.hidden = false;
    ui.token.focus();
    return;
  }
  ui.signinButton.disabled = true;
  ui.signinError.hidden = true;
  try {
    const cases = parseCases(await api('GET', '/admin/reports', undefined, value));
    signIns++;
    token = value;
    saveToken(value);
    ui.token.value = '';
    signedIn();
    showQueue(cases);
    ui.queueTitle.focus();
  } catch (err) {
    ui.signinError.textContent =
      err instanceof ApiError && err.status === 401 ? 'The server refused this token. Check it and try again.' : err instanceof Error ? err.message : String(err);
    ui.signinError.hidden = false;
    ui.token.select();
    ui.token.focus();
  } finally {
    ui.signinButton.disabled = false;
  }
}

// ---- wiring ------------------------------------------------------------------------------------

ui.signinForm.addEventListener('submit', (e) => {
  e.preventDefault();
  void signIn(ui.token.value.trim());
});
ui.refresh.addEventListener('click', () => {
  ui.refresh.disabled = true;
  void refresh().finally(() => {
    ui.refresh.disabled = false;
  });
});
ui.signout.addEventListener('click', () => signOut());
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && refreshTimer !== undefined) void refresh();
});

if (token === '') {
  showView('signin');
  ui.token.focus();
} else {
  // A reload in a signed-in tab: straight to the queue (a refused token brings the form back).
  signedIn();
  void refresh();
}

export {}; // a module: its names stay its own
