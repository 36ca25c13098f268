/**
 * The Strangers page: landing with interest tags, then one conversation at a time.
 *
 * One state machine (`idle → searching → chatting → ended → searching …`) drives the whole page
 * through `render()`. Everything a stranger or the server sends is put in the page with
 * `textContent`, never as HTML.
 *
 * A lost connection does not end a conversation: the server holds the place for a while, and
 * the page's first message on its next connection is `resume` with the token of that place.
 * Receipts: the page numbers what it shows (`seq`), drops replays it already showed, acknowledges
 * in batches, and ticks its own messages when the server says they were delivered.
 */
import { Connection, LinkState, endpoint } from './connection.js';
import { EndReason, Limits, normalizeInterest, type ClientMessage, type PlaceState, type ServerMessage } from './protocol.js';
import { SessionKeeper } from './session.js';
import { fillPicker, languageName, loadLanguage, saveLanguage } from './languages.js';
import { Notifier } from './notify.js';
import { download, fileName, transcript, type TranscriptLine } from './save.js';

/** The conversation's state. */
const ChatState = {
  /** On the landing page, not in the queue. */
  idle: 'idle',
  /** In the queue (or about to be, once the connection is back). */
  searching: 'searching',
  chatting: 'chatting',
  /** A conversation just ended; one key starts the next one. */
  ended: 'ended',
} as const;
type ChatState = (typeof ChatState)[keyof typeof ChatState];

/** Timings of the page's small behaviours. */
const Timing = {
  /** After `resumed: idle` from a chat, wait this long for the replay and its `ended`. */
  endedAfterResumeMs: 3000,
  /** Stop "typing" after this much quiet in the composer. */
  typingIdleMs: 4000,
  /** Hide the stranger's typing indicator if no "off" arrives (their page may have gone). */
  typingStaleMs: 20_000,
  /** How long the skip button waits for its confirming second press. */
  confirmMs: 3000,
  /** A message sent this recently is the one an error refers to. */
  errorBlameMs: 2000,
  /** Pause before repeating a rate-limited `find` or `next`. */
  retryControlMs: 1500,
  toastMs: 5000,
  /** How often the "N online" count is refreshed from /stats. */
  statsMs: 20_000,
  /** At most one `ack` this often: messages shown within it are acknowledged together. */
  ackMs: 1000,
} as const;

/** What each `ended.reason` means, in words. */
const EndedText: Record<string, string> = {
  [EndReason.skipped]: 'The stranger skipped to someone new.',
  [EndReason.left]: 'The stranger has left the chat.',
  [EndReason.disconnected]: "The stranger's connection was lost.",
  [EndReason.shutdown]: 'The server is restarting, so this chat has ended. Reconnecting…',
};

/** The partner's connection, in words (exact texts: the tests read them). */
const PresenceText = {
  away: "Stranger's connection dropped, waiting…",
  back: 'Stranger is back',
} as const;

/** Stable error codes (docs/protocol.md), in words. */
const ErrorText: Record<string, string> = {
  rate_limited: "You're sending too fast. Wait a moment and try again.",
  too_long: `That message is too long (${Limits.maxText} characters at most).`,
  not_matched: "You're not in a chat right now.",
  bad_message: "The server didn't understand the page's last request.",
  already_matched: "You're already in a chat.",
  banned: "Several people reported you, so you can't start new chats for a while.",
  engine_unavailable: 'Matchmaking is unavailable at the moment. Try again in a little while.',
  shutting_down: 'The server is restarting. You will be reconnected in a moment.',
  not_allowed: "You asked the question: you watch, the strangers talk.",
};

/** What each `ended.reason` means to an asker. */
const AskerEndedText: Record<string, string> = {
  [EndReason.skipped]: 'A stranger moved on, so the discussion has ended.',
  [EndReason.left]: 'A stranger left, so the discussion has ended.',
  [EndReason.disconnected]: "A stranger's connection was lost, so the discussion has ended.",
  [EndReason.shutdown]: 'The server is restarting, so this discussion has ended. Reconnecting…',
};

/** Why the server refused a session (POST /session, docs/protocol.md), in words. */
const SessionRefusedText: Record<string, string> = {
  banned: "Several people reported you, so you can't start new chats for a while.",
  rate_limited: 'Too many new visits from your network just now. Trying again in a moment…',
};

/** Errors after which a search simply resumes (after a pause, or on the next connection). */
const TransientErrors: ReadonlySet<string> = new Set(['rate_limited', 'shutting_down']);

/** Errors that refuse a `msg`: the server did not count it, and its bubble says "Not delivered". */
const RefusedMessage: ReadonlySet<string> = new Set(['rate_limited', 'too_long', 'not_matched']);

const STORAGE_KEY = 'strangers.interests';
const QUESTIONS_KEY = 'strangers.questions';

/**
 * The server's default per-connection budget (`msg`, `typing`, `find`, `next`): 5 per second,
 * bursts of 10. The page keeps its own count so that it spends the budget on messages, not on
 * typing notices, and holds a message back rather than have it refused.
 */
const Budget = { perSecond: 5, burst: 10, typingReserve: 4 } as const;

class TokenBudget {
  #tokens: number = Budget.burst;
  #at = performance.now();

  /** Takes one token if more than `reserve` would remain; a negative reserve always takes. */
  spend(reserve: number): boolean {
    const now = performance.now();
    this.#tokens = Math.min(Budget.burst, this.#tokens + ((now - this.#at) / 1000) * Budget.perSecond);
    this.#at = now;
    if (reserve >= 0 && this.#tokens < 1 + reserve) return false;
    this.#tokens = Math.max(0, this.#tokens - 1);
    return true;
  }
}
const budget = new TokenBudget();

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`#${id} missing from index.html`);
  return el as T;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** "a", "a and b", "a, b and c". */
function listText(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

const ui = {
  app: $<HTMLDivElement>('app'),
  brand: $<HTMLAnchorElement>('brand'),
  online: $<HTMLParagraphElement>('online'),
  link: $<HTMLParagraphElement>('link'),
  linkText: $<HTMLSpanElement>('link-text'),
  banner: $<HTMLDivElement>('banner'),
  bannerText: $<HTMLSpanElement>('banner-text'),
  retry: $<HTMLButtonElement>('retry'),
  landing: $<HTMLElement>('landing'),
  startForm: $<HTMLFormElement>('start-form'),
  tags: $<HTMLDivElement>('tags'),
  tagList: $<HTMLUListElement>('tag-list'),
  interestInput: $<HTMLInputElement>('interest-input'),
  landingError: $<HTMLParagraphElement>('landing-error'),
  chat: $<HTMLElement>('chat'),
  chatStatus: $<HTMLParagraphElement>('chat-status'),
  report: $<HTMLButtonElement>('report'),
  reportDialog: $<HTMLDialogElement>('report-dialog'),
  reportForm: $<HTMLFormElement>('report-form'),
  stop: $<HTMLButtonElement>('stop'),
  change: $<HTMLButtonElement>('change'),
  log: $<HTMLDivElement>('log'),
  jump: $<HTMLButtonElement>('jump'),
  typing: $<HTMLParagraphElement>('typing'),
  typingText: $<HTMLSpanElement>('typing-text'),
  next: $<HTMLButtonElement>('next'),
  input: $<HTMLTextAreaElement>('input'),
  send: $<HTMLButtonElement>('send'),
  toast: $<HTMLDivElement>('toast'),
  lang: $<HTMLSelectElement>('lang'),
  questions: $<HTMLInputElement>('questions'),
  notify: $<HTMLInputElement>('notify'),
  askForm: $<HTMLFormElement>('ask-form'),
  questionInput: $<HTMLTextAreaElement>('question-input'),
  questionBar: $<HTMLParagraphElement>('question-bar'),
  questionText: $<HTMLSpanElement>('question-text'),
  save: $<HTMLButtonElement>('save'),
  reportWho: $<HTMLFieldSetElement>('report-who'),
  reportWhoOptions: $<HTMLDivElement>('report-who-options'),
};

// ---- state -------------------------------------------------------------------------------------

let state: ChatState = ChatState.idle;
let interests: string[] = loadInterests();
/** The language searches use ('' for any), remembered. */
let lang = loadLanguage();
/** The user accepts to discuss other people's questions (remembered). */
let discussQuestions = loadFlag(QUESTIONS_KEY);
const notifier = new Notifier();
/** The question this page is asking (its search is an `ask`), or null for an ordinary search. */
let asking: string | null = null;
/** The current conversation: an ordinary one, or in question mode as the asker or a discusser. */
let mode: 'chat' | 'asker' | 'discusser' = 'chat';
/** The question of the current conversation ('' for an ordinary one). */
let question = '';
/** Shared interests of the current conversation. */
let common: readonly string[] = [];
/** Sent `find` for the current search (false while waiting for the connection). */
let findSent = false;
/** A `leave` was sent and no `searching` has come since: a `matched` now is stale (see sendLeave). */
let staleMatch = false;
let reported = false;
/** Skip button pressed once; a second press (or Esc) within `confirmMs` skips. */
let nextArmed = false;
let nextArmTimer: ReturnType<typeof setTimeout> | undefined;
/** We told the stranger we are typing. */
let typingSent = false;
let typingIdleTimer: ReturnType<typeof setTimeout> | undefined;
let typingStaleTimer: ReturnType<typeof setTimeout> | undefined;
/** The log is scrolled to its end; new lines keep it there. */
let stuckToBottom = true;
let unseenLines = 0;
/** Unread stranger messages while the tab is hidden (shown in the title). */
let unread = 0;
/** One of the user's own messages in the conversation. */
interface Own {
  readonly node: HTMLElement;
  delivered: boolean;
}
let lastOwn: { own: Own; at: number } | null = null;
/** The last `find`/`next` sent, repeated once if the server rate-limited it. */
let lastControl: { msg: ClientMessage; at: number } | null = null;
let controlRetryTimer: ReturnType<typeof setTimeout> | undefined;
let everConnected = false;
/** The server said it is going down (ended `shutdown` or error `shutting_down`). */
let serverRestarting = false;
let bannerTimer: ReturnType<typeof setInterval> | undefined;
/**
 * The token of the place this page holds on the server: this connection's (from `welcome`), or
 * the one taken back (from `resumed`). While a resume is unanswered it stays the old one, so that
 * a connection lost meanwhile tries again with it.
 */
let placeToken = '';
/** This connection's own token (its `welcome`): the page's place if the resume fails. */
let connToken = '';
/**
 * A `resume` is on its way on this connection: nothing else is sent until its answer. `leave`:
 * the user left the conversation meanwhile, so the place is taken back only to leave it.
 */
let resuming: 'continue' | 'leave' | null = null;
/** The user left a conversation while offline: its held place is left on the next connection. */
let leaveHeldPlace = false;
/** The stranger's connection dropped and has not come back yet. */
let partnerAway = false;
/** Receipts of this conversation: the highest `seq` shown, and the highest acknowledged. */
let shownSeq = 0;
let ackedSeq = 0;
let lastAckAt = 0;
let ackTimer: ReturnType<typeof setTimeout> | undefined;
/**
 * Own messages the server counted, in order: `own[k - 1]` is the k-th, the one `delivered` k
 * names. A refused message (an error) is taken out, as the server never counted it.
 */
let own: Own[] = [];
/** Resumed to `idle` from a chat: the replay and its `ended` are on their way (timer: in case not). */
let endedWhileAway: ReturnType<typeof setTimeout> | undefined;
let toastTimer: ReturnType<typeof setTimeout> | undefined;
const baseTitle = document.title;
/** A touch screen: no Esc key to advertise. */
const coarse = matchMedia('(hover: none) and (pointer: coarse)');

/** Getting a session is taking long: the link status says so. */
let checkingBrowser = false;
const sessions = new SessionKeeper({
  slow(on) {
    checkingBrowser = on;
    renderLink();
  },
  refused(code) {
    const text = SessionRefusedText[code];
    if (text === undefined) return; // anything else is retried quietly, like a lost connection
    if (state === ChatState.idle) showLandingError(text);
    else toast(text);
  },
});
const conn = new Connection(endpoint(), { message: onServerMessage, state: onLinkState, prepare: (closedBeforeOpen) => sessions.prepare(closedBeforeOpen) });

// ---- interests ---------------------------------------------------------------------------------

function loadInterests(): string[] {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    const parsed: unknown = raw === null ? [] : JSON.parse(raw);
    if (!Array.isArray(parsed)) return [];
    return parsed
      .filter((x): x is string => typeof x === 'string')
      .map(normalizeInterest)
      .filter((x) => x !== '')
      .slice(0, Limits.maxInterests);
  } catch {
    return [];
  }
}

function saveInterests(): void {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(interests));
  } catch {
    // Private mode or storage disabled: interests are simply not remembered.
  }
}

function loadFlag(key: string): boolean {
  try {
    return localStorage.getItem(key) === '1';
  } catch {
    return false;
  }
}

function saveFlag(key: string, on: boolean): void {
  try {
    localStorage.setItem(key, on ? '1' : '0');
  } catch {
    // Not remembered.
  }
}

/** Adds the tags typed so far (comma-separated); returns false when nothing could be added. */
function addInterests(raw: string): boolean {
  let added = false;
  for (const part of raw.split(',')) {
    const tag = normalizeInterest(part);
    if (tag === '' || interests.includes(tag)) continue;
    if (interests.length >= Limits.maxInterests) {
      showLandingError(`Up to ${Limits.maxInterests} interests.`);
      break;
    }
    interests.push(tag);
    added = true;
  }
  renderTags();
  saveInterests();
  return added;
}

function removeInterest(tag: string): void {
  interests = interests.filter((t) => t !== tag);
  renderTags();
  saveInterests();
  ui.interestInput.focus();
}

function renderTags(): void {
  const items = interests.map((tag) => {
    const li = el('li', 'tag');
    li.append(el('span', 'tag-text', tag));
    const x = el('button', 'tag-remove', '×');
    x.type = 'button';
    x.setAttribute('aria-label', `Remove ${tag}`);
    x.addEventListener('click', () => removeInterest(tag));
    li.append(x);
    return li;
  });
  ui.tagList.replaceChildren(...items);
  ui.tagList.hidden = items.length === 0;
  ui.interestInput.placeholder = items.length === 0 ? 'music, chess, travel…' : 'Add another…';
}

function showLandingError(text: string): void {
  ui.landingError.textContent = text;
  ui.landingError.hidden = text === '';
}

ui.tags.addEventListener('click', (ev) => {
  if (ev.target === ui.tags || ev.target === ui.tagList) ui.interestInput.focus();
});

ui.interestInput.addEventListener('keydown', (ev) => {
  const input = ui.interestInput;
  if (ev.key === ',' ) {
    ev.preventDefault();
    if (addInterests(input.value)) input.value = '';
  } else if (ev.key === 'Enter' && input.value.trim() !== '') {
    ev.preventDefault();
    addInterests(input.value);
    input.value = '';
  } else if (ev.key === 'Backspace' && input.value === '' && interests.length > 0) {
    ev.preventDefault();
    const last = interests[interests.length - 1];
    if (last !== undefined) removeInterest(last);
  }
  // Enter on an empty field falls through to the form's submit: Start.
});

ui.interestInput.addEventListener('input', () => {
  showLandingError('');
  // Pasted "a, b, c" becomes tags at once; the text after the last comma stays editable.
  const v = ui.interestInput.value;
  const cut = v.lastIndexOf(',');
  if (cut >= 0) {
    addInterests(v.slice(0, cut));
    ui.interestInput.value = v.slice(cut + 1).trimStart();
  }
});

// No tag-on-blur: it would reflow the form under the pointer between mousedown and click on
// Start. Text left in the field becomes a tag when the form is submitted.

ui.startForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (ui.interestInput.value.trim() !== '') {
    addInterests(ui.interestInput.value);
    ui.interestInput.value = '';
  }
  startSearch();
});

// ---- language, questions, notifications ----------------------------------------------------------

fillPicker(ui.lang, lang);
ui.lang.addEventListener('change', () => {
  lang = ui.lang.value;
  saveLanguage(lang);
});
ui.questions.checked = discussQuestions;
ui.questions.addEventListener('change', () => {
  discussQuestions = ui.questions.checked;
  saveFlag(QUESTIONS_KEY, discussQuestions);
});
ui.notify.checked = notifier.enabled;
ui.notify.addEventListener('change', () => {
  void notifier.set(ui.notify.checked).then(() => {
    if (ui.notify.checked && Notifier.supported && Notification.permission === 'denied') {
      toast('Notifications are blocked for this site: you will only hear a sound.');
    }
  });
});

ui.askForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const q = ui.questionInput.value.trim();
  if (q === '') {
    showLandingError('Write your question first.');
    ui.questionInput.focus();
    return;
  }
  if (Array.from(q).length > Limits.maxQuestion) {
    showLandingError(`A question has ${Limits.maxQuestion} characters at most.`);
    return;
  }
  startAsk(q);
});
ui.questionInput.addEventListener('input', () => showLandingError(''));

/** Asks `q`: two strangers will discuss it while this page watches. */
function startAsk(q: string): void {
  asking = q;
  beginSearch();
}

// ---- the conversation --------------------------------------------------------------------------

/** Puts the user in the queue for an ordinary conversation (now, or once the connection is back). */
function startSearch(): void {
  asking = null;
  beginSearch();
}

/** Starts again what the last search was: the same question, or an ordinary conversation. */
function restart(): void {
  if (asking !== null) beginSearch();
  else startSearch();
}

function beginSearch(): void {
  disarmNext();
  stopTyping(false);
  setStrangerTyping(false);
  state = ChatState.searching;
  mode = 'chat';
  question = '';
  common = [];
  reported = false;
  clearLog();
  findSent = sendFind();
  addSys(searchingText(), 'searching');
  render();
  ui.next.focus();
}

function sendFind(): boolean {
  const l = lang === '' ? {} : { lang };
  if (asking !== null) return sendControl({ type: 'ask', question: asking, ...l });
  const q = discussQuestions ? { questions: true } : {};
  return sendControl(interests.length > 0 ? { type: 'find', interests, ...l, ...q } : { type: 'find', ...l, ...q });
}

/** Sends `find` or `next`, remembering it in case the server answers `rate_limited`. */
function sendControl(msg: ClientMessage): boolean {
  clearTimeout(controlRetryTimer);
  budget.spend(-1); // always sent; the server answers rate_limited if it must
  const ok = conn.send(msg);
  lastControl = ok ? { msg, at: Date.now() } : null;
  return ok;
}

/**
 * Sends `leave`. A `matched` that crossed it on the wire belongs to a search the server ended
 * at once (the stranger hears `left`); every later match follows a new `searching`, so until
 * one arrives a `matched` is stale (docs/protocol.md, `leave`).
 */
function sendLeave(): boolean {
  staleMatch = true;
  return conn.send({ type: 'leave' });
}

function searchingText(): string {
  const inLang = lang === '' ? '' : ` who speaks ${languageName(lang)}`;
  if (asking !== null) return `Looking for two strangers${inLang === '' ? '' : ` (${languageName(lang)})`} to discuss your question…`;
  if (interests.length === 0) return `Looking for a stranger${inLang}…`;
  return `Looking for a stranger${inLang} who likes ${listText(interests)}…`;
}

/** Skip: end this conversation and look for the next stranger (server re-queues us). */
function skip(): void {
  disarmNext();
  stopTyping(false);
  setStrangerTyping(false);
  if (!canSend() || !sendControl({ type: 'next' })) {
    toast('Not connected yet. Try again in a moment.');
    return;
  }
  state = ChatState.searching;
  findSent = true;
  mode = 'chat';
  question = '';
  common = [];
  reported = false;
  clearLog();
  addSys(searchingText(), 'searching');
  render();
}

/** Stop: leave the conversation (or the queue) without looking for another. */
function stop(): void {
  disarmNext();
  stopTyping(false);
  setStrangerTyping(false);
  if (state === ChatState.chatting) {
    // Offline, the server still holds the conversation: it is left on the next connection (so
    // the stranger hears it then, not when the held place expires).
    if (resuming !== null) resuming = 'leave';
    else if (!sendLeave()) leaveHeldPlace = true;
    end('You left the chat.');
  } else if (state === ChatState.searching) {
    goLanding();
  }
}

function goLanding(): void {
  if (state === ChatState.searching && resuming !== null) resuming = 'leave';
  else if (state === ChatState.searching && findSent) sendLeave();
  state = ChatState.idle;
  findSent = false;
  render();
  ui.interestInput.focus();
}

function end(text: string): void {
  state = ChatState.ended;
  findSent = false;
  partnerAway = false;
  disarmNext();
  stopTyping(false);
  setStrangerTyping(false);
  addSys(text, 'ended');
  addSys(coarse.matches ? 'Tap New chat to talk to someone else.' : 'Press Enter or Esc for a new chat.', 'hint');
  render();
  ui.next.focus();
}

/** Asks why (the dialog), then reports the stranger with that reason. */
function report(): void {
  if (state !== ChatState.chatting || reported || ui.reportDialog.open) return;
  // In question mode, the report names whom: the asker picks a discusser (or both), a discusser
  // the other one or the question's asker.
  const choices: Array<[string, string]> =
    mode === 'asker' ? [['both', 'Both strangers'], ['1', 'Stranger 1'], ['2', 'Stranger 2']] : mode === 'discusser' ? [['partner', 'The other stranger'], ['0', 'The question (its asker)']] : [];
  ui.reportWhoOptions.replaceChildren(
    ...choices.map(([value, text], i) => {
      const label = el('label', '');
      const input = el('input', '');
      input.type = 'radio';
      input.name = 'who';
      input.value = value;
      input.checked = i === 0;
      label.append(input, ` ${text}`);
      return label;
    }),
  );
  ui.reportWho.hidden = choices.length === 0;
  ui.reportDialog.showModal();
}

function onReportClosed(): void {
  const data = new FormData(ui.reportForm);
  const reason = data.get('reason');
  const who = data.get('who');
  if (ui.reportDialog.returnValue !== 'send' || typeof reason !== 'string') return;
  if (state !== ChatState.chatting || reported || !canSend()) return;
  const from = mode !== 'chat' && (who === '0' || who === '1' || who === '2') ? { from: Number(who) as 0 | 1 | 2 } : {};
  if (!conn.send({ type: 'report', reason, ...from })) return;
  budget.spend(-1);
  reported = true;
  render();
}

/**
 * Whether the conversation can take a message now: chatting, connected, and not resuming.
 * Offline, sending is refused and the text stays in the box (no hidden queue): a message shown
 * as sent is one the server had a chance to count, so the numbering of receipts stays the
 * server's, and nothing typed offline reaches a conversation that ended meanwhile.
 */
function canSend(): boolean {
  return state === ChatState.chatting && conn.state === LinkState.open && resuming === null;
}

function sendMessage(): void {
  const text = ui.input.value;
  if (state !== ChatState.chatting || mode === 'asker' || text.trim() === '') return;
  if (text.length > Limits.maxText) {
    toast(ErrorText.too_long ?? '');
    return;
  }
  if (!canSend()) {
    toast('Not connected. Your message is still in the box.');
    return;
  }
  if (!budget.spend(0)) {
    toast(ErrorText.rate_limited ?? '');
    return; // the text stays in the box
  }
  if (!conn.send({ type: 'msg', text })) {
    toast('Not connected. Your message is still in the box.');
    return;
  }
  // The stranger's page hides "typing" when the message arrives, so no "off" frame is needed.
  clearTimeout(typingIdleTimer);
  typingSent = false;
  const mine: Own = { node: addMessage('you', text), delivered: false };
  own.push(mine);
  lastOwn = { own: mine, at: Date.now() };
  ui.input.value = '';
  autosize();
  render();
}

/** Tells the stranger we stopped typing (if we had said we were). */
function stopTyping(send: boolean): void {
  clearTimeout(typingIdleTimer);
  if (typingSent && send && conn.send({ type: 'typing', on: false })) budget.spend(-1);
  typingSent = false;
}

function onComposerInput(): void {
  autosize();
  render();
  if (!canSend() || mode === 'asker') return;
  if (ui.input.value.trim() === '') {
    stopTyping(true);
    return;
  }
  // One "on" per burst of typing and one "off" after a quiet spell: two frames, not one per key.
  // A typing notice is a luxury: it is only sent while the budget keeps room for messages.
  if (!typingSent && budget.spend(Budget.typingReserve)) typingSent = conn.send({ type: 'typing', on: true });
  clearTimeout(typingIdleTimer);
  typingIdleTimer = setTimeout(() => stopTyping(true), Timing.typingIdleMs);
}

function setStrangerTyping(on: boolean, from?: 1 | 2): void {
  clearTimeout(typingStaleTimer);
  ui.typingText.textContent = on ? `${mode === 'asker' && from !== undefined ? `Stranger ${from}` : 'Stranger'} is typing…` : '';
  ui.typing.classList.toggle('on', on);
  if (on) typingStaleTimer = setTimeout(() => setStrangerTyping(false), Timing.typingStaleMs);
}

function armOrSkip(): void {
  if (state !== ChatState.chatting) return;
  if (nextArmed) {
    skip();
    return;
  }
  nextArmed = true;
  clearTimeout(nextArmTimer);
  nextArmTimer = setTimeout(() => {
    disarmNext();
    render();
  }, Timing.confirmMs);
  render();
}

function disarmNext(): void {
  nextArmed = false;
  clearTimeout(nextArmTimer);
}

// ---- server messages ---------------------------------------------------------------------------

function onServerMessage(msg: ServerMessage): void {
  switch (msg.type) {
    case 'welcome':
      staleMatch = false; // a new connection: nothing of the old one's crosses it
      showOnline(msg.online);
      if (everConnected) toast('Connected again.', 'ok');
      everConnected = true;
      onWelcome(msg.resume);
      render();
      break;
    case 'resumed':
      if (resuming === null) return;
      placeToken = msg.resume;
      onResumed(msg.state, msg.common, msg.sent);
      render();
      break;
    case 'searching':
      staleMatch = false;
      break;
    case 'matched':
      // A match that crossed our `leave` was ended by the server: nothing to show (after Stop,
      // and after Stop then a new search before the server's `searching` came back).
      if (state === ChatState.searching && !staleMatch) onMatched(msg.common, msg.role, msg.question);
      break;
    case 'asker_left':
      if (state !== ChatState.chatting || mode !== 'discusser') return;
      mode = 'chat';
      addSys('The asker left. The two of you can go on talking.', 'notice');
      render();
      break;
    case 'msg':
      if (state !== ChatState.chatting || resuming !== null) return;
      if (msg.seq !== undefined) {
        if (msg.seq <= shownSeq) return; // replayed after a resume, and already shown
        if (msg.seq > shownSeq + 1) {
          const lost = msg.seq - shownSeq - 1;
          addSys(lost === 1 ? 'One message from the stranger was lost.' : `${lost} messages from the stranger were lost.`, 'hint');
        }
        shownSeq = msg.seq;
        scheduleAck();
      }
      partnerBack();
      setStrangerTyping(false);
      addMessage(mode === 'asker' && msg.from !== undefined ? (msg.from === 1 ? 'one' : 'two') : 'stranger', msg.text);
      if (document.visibilityState === 'hidden') {
        unread++;
        document.title = `(${unread}) ${baseTitle}`;
        const who = mode === 'asker' && msg.from !== undefined ? `Stranger ${msg.from}` : 'Stranger';
        notifier.notify(`${who} wrote`, msg.text.length > 120 ? `${msg.text.slice(0, 119)}…` : msg.text);
      }
      break;
    case 'typing':
      if (state === ChatState.chatting) setStrangerTyping(msg.on, msg.from);
      break;
    case 'delivered':
      // Also after the chat ended: its log (and the ticks) stay until the next one starts.
      if (state === ChatState.chatting || state === ChatState.ended) markDelivered(msg.seq);
      break;
    case 'away':
      if (state !== ChatState.chatting || partnerAway) return;
      partnerAway = true;
      setStrangerTyping(false);
      addSys(PresenceText.away, 'away');
      render();
      break;
    case 'back':
      partnerBack();
      break;
    case 'ended':
      if (msg.reason === EndReason.shutdown) serverRestarting = true;
      if (state !== ChatState.chatting) return;
      clearTimeout(endedWhileAway);
      notifier.notify(mode === 'asker' ? 'The discussion has ended' : 'The stranger left', (mode === 'asker' ? AskerEndedText : EndedText)[msg.reason] ?? '');
      end(endedWhileAway !== undefined ? 'The chat ended while you were offline.' : (mode === 'asker' ? AskerEndedText : EndedText)[msg.reason] ?? 'The chat has ended.');
      endedWhileAway = undefined;
      break;
    case 'reported':
      if (state === ChatState.chatting) addSys('Thanks. You reported this stranger; press New chat to move on.', 'notice');
      break;
    case 'error':
      onError(msg.code, msg.message);
      break;
  }
}

/**
 * A new connection. A page that was searching or chatting takes its place back (`resume` is
 * the first message); otherwise, or without a token, it carries on as the new user.
 */
function onWelcome(token: string): void {
  const held = placeToken;
  const leave = leaveHeldPlace;
  connToken = token;
  leaveHeldPlace = false;
  resuming = null;
  if (held === '' || token === '' || !(leave || state === ChatState.chatting || state === ChatState.searching)) {
    placeToken = token;
    return placeLost();
  }
  // `placeToken` stays `held` until the answer: a connection lost meanwhile tries it again.
  resuming = leave ? 'leave' : 'continue';
  budget.spend(-1);
  conn.send({ type: 'resume', token: held });
}

/** No place was taken back: a conversation is over, a search starts anew. */
function placeLost(): void {
  if (state === ChatState.chatting) end('Your connection was lost, so this chat has ended.');
  else if (state === ChatState.searching && !findSent) findSent = sendFind();
}

/** `resumed`: the place is back, as the server kept it; the user's view follows. */
function onResumed(place: PlaceState, shared: readonly string[], sent: number | undefined): void {
  const mode = resuming;
  resuming = null;
  const wanted = state === ChatState.chatting || state === ChatState.searching;
  if (mode === 'leave' || !wanted) {
    // The user left while offline: leave the place for real (the stranger hears it now).
    if (place !== 'idle') sendLeave();
    return placeLost();
  }
  if (place === 'chatting') {
    if (state === ChatState.searching) return onMatched(shared); // `matched` was lost with the link
    // The log goes on. Replays follow (those already shown are dropped); what was shown is
    // acknowledged again, as the server cannot know which acks reached it.
    partnerAway = false;
    ackedSeq = 0;
    scheduleAck();
    // Messages sent into the dying connection that never reached the server: not delivered.
    if (sent !== undefined && sent < own.length) {
      for (const o of own.slice(sent)) {
        o.node.classList.add('failed');
        o.node.append(el('span', 'msg-note', 'Not delivered'));
      }
      own = own.slice(0, sent);
    }
  } else if (place === 'searching') {
    if (state === ChatState.searching) findSent = true; // `searching` follows
    else {
      sendLeave();
      end('The chat ended while you were offline.');
    }
  } else if (state === ChatState.chatting) {
    // The chat ended while we were offline: what we missed of it follows, then its `ended`.
    endedWhileAway = setTimeout(() => {
      if (state === ChatState.chatting) end('The chat ended while you were offline.');
    }, Timing.endedAfterResumeMs);
  } else if (!findSent) {
    findSent = sendFind();
  }
}

function partnerBack(): void {
  if (state !== ChatState.chatting || !partnerAway) return;
  partnerAway = false;
  addSys(PresenceText.back, 'back');
  render();
}

/** Acknowledges what was shown: at most once per `ackMs`, the first one at once. */
function scheduleAck(): void {
  if (ackTimer !== undefined || shownSeq <= ackedSeq) return;
  ackTimer = setTimeout(sendAck, Math.max(0, lastAckAt + Timing.ackMs - Date.now()));
}

function sendAck(): void {
  clearTimeout(ackTimer);
  ackTimer = undefined;
  if (shownSeq <= ackedSeq || !canSend()) return; // after a resume, it is scheduled again
  // An ack costs one unit of the server's rate budget: it waits rather than have a message refused.
  if (!budget.spend(0)) {
    ackTimer = setTimeout(sendAck, Timing.ackMs);
    return;
  }
  if (conn.send({ type: 'ack', seq: shownSeq })) {
    ackedSeq = shownSeq;
    lastAckAt = Date.now();
  }
}

/** `delivered` k: the user's messages 1..k reached the stranger's page. */
function markDelivered(k: number): void {
  for (let i = 0; i < Math.min(k, own.length); i++) {
    const o = own[i]!;
    if (o.delivered) continue;
    o.delivered = true;
    o.node.classList.add('delivered');
    o.node.append(el('span', 'sr-only', ' Delivered'));
  }
}

function onMatched(shared: readonly string[], role?: 'asker' | 'discusser', asked?: string): void {
  state = ChatState.chatting;
  common = shared;
  reported = false;
  clearLog();
  mode = role ?? 'chat';
  question = role === undefined ? '' : asked ?? '';
  if (mode === 'asker') {
    addSys('Two strangers are discussing your question. You watch: they cannot see you, and you cannot write.', 'matched');
    addSys(`You asked: ${question}`, 'question');
  } else if (mode === 'discusser') {
    addSys('You and a stranger were picked to discuss this question. Its asker watches and cannot write.', 'matched');
    addSys(`Question: ${question}`, 'question');
  } else {
    addSys("You're now chatting with a random stranger. Say hi!", 'matched');
  }
  if (mode !== 'chat') {
    // (no interests in question mode)
  } else if (shared.length > 0) {
    const line = el('p', 'sys common');
    line.append('You both like ');
    shared.forEach((tag, i) => {
      if (i > 0) line.append(i === shared.length - 1 ? ' and ' : ', ');
      line.append(el('b', 'tag-inline', tag));
    });
    appendLine(line, true);
  } else if (interests.length > 0) {
    addSys('Nobody with your interests was around, so here is someone random.', 'hint');
  }
  if (document.visibilityState === 'hidden') {
    document.title = `Stranger found! · ${baseTitle}`;
    notifier.notify(mode === 'asker' ? 'Your question is being discussed' : 'Stranger found!', mode === 'chat' ? 'Say hi!' : question);
  }
  void refreshOnline();
  render();
  if (mode === 'asker') ui.next.focus();
  else ui.input.focus();
}

function onError(code: string, message: string): void {
  if (code === 'resume_failed') {
    // Unknown, expired or used: this connection goes on as the new user its welcome announced.
    if (resuming === null) return;
    resuming = null;
    placeToken = connToken;
    placeLost();
    render();
    return;
  }
  const text = ErrorText[code] ?? (message !== '' ? message : `Something went wrong (${code}).`);
  // The server does not say which message an error is about: one right after ours is about it.
  // The server did not count it, so it leaves the numbering that `delivered` refers to.
  if (lastOwn !== null && Date.now() - lastOwn.at < Timing.errorBlameMs && RefusedMessage.has(code) && !lastOwn.own.node.classList.contains('failed')) {
    const { own: refused } = lastOwn;
    refused.node.classList.add('failed');
    refused.node.append(el('span', 'msg-note', 'Not delivered'));
    own = own.filter((o) => o !== refused);
    lastOwn = null;
  }
  if (state === ChatState.idle) showLandingError(text);
  else toast(text);
  if (state !== ChatState.searching) return;
  if (code === 'rate_limited') {
    // The server ignored our find/next: ask again once the bucket has refilled a little.
    const last = lastControl;
    if (last !== null && Date.now() - last.at < Timing.errorBlameMs) {
      clearTimeout(controlRetryTimer);
      controlRetryTimer = setTimeout(() => {
        if (state === ChatState.searching) sendControl(last.msg);
      }, Timing.retryControlMs);
    }
  } else if (code === 'shutting_down') {
    serverRestarting = true;
    findSent = false; // resumes on the next connection
  } else if (!TransientErrors.has(code)) {
    // The server refused the search (e.g. after reports): stop spinning, say why.
    state = ChatState.ended;
    findSent = false;
    addSys(text, 'ended');
    render();
  }
}

function onLinkState(link: LinkState, info: { retryAt: number; code: number; attempt: number }): void {
  clearInterval(bannerTimer);
  if (link !== LinkState.open) {
    // A conversation is not over: the server holds it, and the next connection resumes it. A
    // resume in flight dies with its connection: the next one tries the same token again.
    if (resuming === 'leave') leaveHeldPlace = true;
    resuming = null;
    if (state === ChatState.searching) findSent = false;
  }
  if (link === LinkState.open) {
    ui.banner.hidden = true;
    serverRestarting = false;
  } else if (link === LinkState.waiting) {
    const update = (): void => {
      const secs = Math.max(0, Math.ceil((info.retryAt - Date.now()) / 1000));
      const what = serverRestarting || info.code === 1001 || info.code === 1012 ? 'The server is restarting.' : 'Connection lost.';
      ui.bannerText.textContent = secs > 0 ? `${what} Reconnecting in ${secs} s…` : `${what} Reconnecting…`;
    };
    update();
    bannerTimer = setInterval(update, 500);
    ui.banner.hidden = false;
  } else if (info.attempt > 0 || everConnected) {
    ui.bannerText.textContent = 'Reconnecting…';
    ui.banner.hidden = false;
  }
  ui.app.dataset.link = link;
  renderLink();
  render();
}

function renderLink(): void {
  const link = conn.state;
  ui.linkText.textContent =
    link === LinkState.open ? 'Connected' : link === LinkState.waiting ? 'Offline' : checkingBrowser ? 'Checking your browser…' : 'Connecting…';
}

// ---- people online -----------------------------------------------------------------------------

function showOnline(n: number): void {
  ui.online.textContent = n > 0 ? `${n.toLocaleString()} online` : '';
}

/** Refreshes the count from `/stats` now and then, while the tab is visible and connected. */
async function refreshOnline(): Promise<void> {
  if (document.visibilityState !== 'visible' || conn.state !== LinkState.open) return;
  try {
    const res = await fetch('/stats', { cache: 'no-store' });
    if (!res.ok) return;
    const body: unknown = await res.json();
    const online = (body as { online?: unknown }).online;
    if (typeof online === 'number') showOnline(online);
  } catch {
    // The socket's state is what the page shows about the network; a failed poll says nothing new.
  }
}
setInterval(() => void refreshOnline(), Timing.statsMs);

// ---- the log -----------------------------------------------------------------------------------

function isAtBottom(): boolean {
  const log = ui.log;
  return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
}

function scrollToBottom(): void {
  ui.log.scrollTop = ui.log.scrollHeight;
  stuckToBottom = true;
  unseenLines = 0;
  ui.jump.hidden = true;
}

/** Appends a line; follows it only when the reader was already at the end (or it is their own). */
function appendLine(node: HTMLElement, follow: boolean): void {
  const stick = follow || stuckToBottom;
  ui.log.append(node);
  if (stick) {
    scrollToBottom();
  } else {
    unseenLines++;
    const arrow = el('span', '', ' ↓');
    arrow.setAttribute('aria-hidden', 'true');
    ui.jump.replaceChildren(unseenLines === 1 ? '1 new message' : `${unseenLines} new messages`, arrow);
    ui.jump.hidden = false;
  }
}

/** Who wrote a line, as the log and a saved conversation name them. */
const Who = { you: 'You', stranger: 'Stranger', one: 'Stranger 1', two: 'Stranger 2' } as const;

function addMessage(who: 'you' | 'stranger' | 'one' | 'two', text: string): HTMLElement {
  const cls = who === 'one' ? 'stranger from1' : who === 'two' ? 'stranger from2' : who;
  const row = el('div', `msg ${cls}`);
  row.dataset.who = Who[who];
  if (who === 'one' || who === 'two') {
    // The asker tells the two apart by colour and by name.
    const name = el('span', 'msg-who', Who[who]);
    name.setAttribute('aria-hidden', 'true');
    row.append(name);
  }
  row.append(el('span', 'sr-only', `${Who[who]}: `));
  row.append(el('p', 'bubble', text)); // textContent: stranger text is never parsed as HTML
  appendLine(row, who === 'you');
  return row;
}

function addSys(text: string, kind: string): void {
  appendLine(el('p', `sys ${kind}`, text), true);
}

/** Empties the log for the next conversation, and forgets the receipts of the last one. */
function clearLog(): void {
  ui.log.replaceChildren();
  lastOwn = null;
  own = [];
  shownSeq = 0;
  ackedSeq = 0;
  clearTimeout(ackTimer);
  ackTimer = undefined;
  partnerAway = false;
  scrollToBottom();
}

ui.log.addEventListener('scroll', () => {
  stuckToBottom = isAtBottom();
  if (stuckToBottom) {
    unseenLines = 0;
    ui.jump.hidden = true;
  }
}, { passive: true });

// The keyboard opening on a phone shrinks the log; keep the end in view if we were there.
new ResizeObserver(() => {
  if (stuckToBottom) ui.log.scrollTop = ui.log.scrollHeight;
}).observe(ui.log);

ui.jump.addEventListener('click', () => {
  scrollToBottom();
  ui.input.focus();
});

// ---- composer ----------------------------------------------------------------------------------

function autosize(): void {
  // CSSOM writes are allowed by a strict style-src (only style attributes in markup are not).
  ui.input.style.height = 'auto';
  ui.input.style.height = `${ui.input.scrollHeight}px`;
}

ui.input.addEventListener('input', onComposerInput);
ui.input.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    sendMessage();
  }
});
ui.send.addEventListener('click', () => {
  sendMessage();
  ui.input.focus();
});
ui.next.addEventListener('click', () => {
  if (state === ChatState.chatting) armOrSkip();
  else if (state === ChatState.searching) stop();
  else restart();
});
ui.save.addEventListener('click', saveConversation);
ui.stop.addEventListener('click', stop);
ui.report.addEventListener('click', report);
ui.reportDialog.addEventListener('close', onReportClosed);
ui.change.addEventListener('click', goLanding);
ui.retry.addEventListener('click', () => conn.retryNow());
ui.brand.addEventListener('click', (ev) => {
  // Home without a reload: a reload would drop the connection (and the stranger).
  ev.preventDefault();
  // Never drop a conversation by a click on the logo: Stop and New chat are the ways out.
  if (state === ChatState.chatting) ui.input.focus();
  else goLanding();
});

document.addEventListener('keydown', (ev) => {
  if (state === ChatState.idle || ev.defaultPrevented || ev.isComposing) return;
  if (ev.key === 'Escape') {
    ev.preventDefault();
    if (state === ChatState.chatting) armOrSkip();
    else if (state === ChatState.ended) restart();
  } else if (ev.key === 'Enter' && state === ChatState.ended) {
    // One key starts again; a focused button handles Enter itself.
    const t = ev.target;
    if (t instanceof HTMLButtonElement || t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement) return;
    ev.preventDefault();
    restart();
  }
});

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') {
    unread = 0;
    document.title = baseTitle;
    sendAck(); // a hidden tab's timers run late: acknowledge now what it showed meanwhile
  }
});

addEventListener('pagehide', (ev) => {
  if (ev.persisted) return sendAck(); // kept in the back-forward cache: may come back
  // Closing the tab (or reloading it) is leaving: the stranger hears it now, rather than see
  // the place held for the resume window.
  if (canSend() || (state === ChatState.searching && findSent)) sendLeave();
});

// ---- saving ------------------------------------------------------------------------------------

/** "Save": the log as a text file, made here (nothing is sent or stored anywhere). */
function saveConversation(): void {
  const lines: TranscriptLine[] = [];
  for (const node of ui.log.children) {
    if (!(node instanceof HTMLElement)) continue;
    if (node.classList.contains('msg')) {
      const text = node.querySelector('.bubble')?.textContent ?? '';
      const note = node.classList.contains('failed') ? ' (not delivered)' : '';
      lines.push({ who: node.dataset.who ?? 'Stranger', text: text + note });
    } else if (node.classList.contains('sys') && !node.classList.contains('hint') && !node.classList.contains('searching') && !node.classList.contains('question')) {
      lines.push({ who: '', text: node.textContent ?? '' });
    }
  }
  const now = new Date();
  download(transcript(lines, question, now), fileName(now));
}

// ---- rendering ---------------------------------------------------------------------------------

function toast(text: string, kind: 'error' | 'ok' = 'error'): void {
  clearTimeout(toastTimer);
  ui.toast.textContent = text;
  ui.toast.classList.toggle('ok', kind === 'ok');
  ui.toast.hidden = false;
  toastTimer = setTimeout(() => {
    ui.toast.hidden = true;
  }, Timing.toastMs);
}

function render(): void {
  const inChat = state !== ChatState.idle;
  const linkOpen = conn.state === LinkState.open;
  ui.app.dataset.view = inChat ? 'chat' : 'landing';
  ui.app.dataset.state = state;
  ui.landing.hidden = inChat;
  ui.chat.hidden = !inChat;

  const chatting = state === ChatState.chatting;
  const sendable = canSend();
  if (state === ChatState.searching) {
    ui.chatStatus.textContent = linkOpen ? 'Looking for a stranger…' : 'Waiting for the connection…';
  } else if (chatting && !sendable) {
    ui.chatStatus.textContent = 'Reconnecting to your chat…';
  } else if (chatting && partnerAway) {
    ui.chatStatus.textContent = 'Waiting for the stranger to come back…';
  } else if (chatting && mode === 'asker') {
    ui.chatStatus.replaceChildren('Watching', el('span', 'status-extra', ' two strangers discuss your question'));
  } else if (chatting && mode === 'discusser') {
    ui.chatStatus.replaceChildren('Discussing', el('span', 'status-extra', ' a question, with a stranger; the asker watches'));
  } else if (chatting) {
    // The shared interests are also in the log, so narrow screens drop them from this line.
    const extra = common.length > 0 ? ` · you both like ${listText(common)}` : ' with a stranger';
    ui.chatStatus.replaceChildren('Chatting', el('span', 'status-extra', extra));
  } else {
    ui.chatStatus.textContent = 'Chat ended';
  }
  ui.report.hidden = state !== ChatState.chatting;
  ui.save.hidden = !(chatting || state === ChatState.ended);
  ui.app.dataset.mode = chatting || state === ChatState.ended ? mode : 'chat';
  ui.questionBar.hidden = question === '' || state === ChatState.idle || state === ChatState.searching;
  ui.questionText.textContent = question;
  ui.report.disabled = reported || !sendable;
  ui.report.textContent = reported ? 'Reported' : 'Report';
  ui.stop.hidden = state !== ChatState.chatting;
  ui.change.hidden = state !== ChatState.ended;

  // Offline, the composer keeps what is typed; Send waits for the connection (see canSend).
  const watching = chatting && mode === 'asker';
  ui.input.disabled = !chatting || watching;
  ui.input.placeholder = watching
    ? 'You asked: you watch, the strangers talk.'
    : chatting
      ? sendable
        ? 'Message…'
        : 'Reconnecting… (you can keep typing)'
      : state === ChatState.searching
        ? 'Waiting…'
        : 'Chat ended';
  ui.send.disabled = !sendable || watching || ui.input.value.trim() === '';

  const next = ui.next;
  next.classList.toggle('armed', chatting && nextArmed);
  next.classList.toggle('primary', state === ChatState.ended);
  if (state === ChatState.searching) {
    next.textContent = 'Stop';
    next.title = 'Stop looking';
  } else if (chatting) {
    next.textContent = nextArmed ? 'Really?' : mode === 'asker' ? 'Ask again' : 'New chat';
    next.title = nextArmed ? 'Press again (or Esc) to skip' : mode === 'asker' ? 'Ask your question to two new strangers (Esc twice)' : 'Skip to a new stranger (Esc twice)';
  } else {
    next.textContent = asking !== null ? 'Ask again' : 'New chat';
    next.title = asking !== null ? 'Ask your question to two new strangers (Enter or Esc)' : 'Find a new stranger (Enter or Esc)';
  }
}

renderTags();
render();
conn.connect();
