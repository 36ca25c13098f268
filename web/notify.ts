/**
 * Opt-in notice of events while the tab is hidden: a system notification (with the user's
 * permission) and a short sound. The title's unread count is the page's own and stays.
 * Nothing happens while the tab is visible, or when the user has not opted in.
 */

const STORAGE_KEY = 'strangers.notify';

export class Notifier {
  #on: boolean;
  #audio: AudioContext | undefined;

  constructor() {
    let on = false;
    try {
      on = localStorage.getItem(STORAGE_KEY) === '1';
    } catch {
      // Not remembered.
    }
    this.#on = on;
  }

  get enabled(): boolean {
    return this.#on;
  }

  /** The browser can show notifications at all. */
  static get supported(): boolean {
    return typeof Notification === 'function';
  }

  /**
   * Turns notices on or off (from a click: the permission prompt and the audio context need a
   * user gesture). Resolves with the state: on, even without the permission (then only the sound).
   */
  async set(on: boolean): Promise<boolean> {
    this.#on = on;
    try {
      localStorage.setItem(STORAGE_KEY, on ? '1' : '0');
    } catch {
      // Not remembered.
    }
    if (!on) return false;
    this.#audioContext();
    if (Notifier.supported && Notification.permission === 'default') {
      try {
        await Notification.requestPermission();
      } catch {
        // An old callback-only API, or refused: the sound still works.
      }
    }
    return this.#on;
  }

  /** Whether notifications (not only the sound) will show. */
  get permitted(): boolean {
    return Notifier.supported && Notification.permission === 'granted';
  }

  /** Tells the user of an event, if opted in and the tab is hidden. */
  notify(title: string, body: string): void {
    if (!this.#on || document.visibilityState !== 'hidden') return;
    if (this.permitted) {
      try {
        // One notification at a time: a new one replaces the last (same tag).
        const n = new Notification(title, { body, tag: 'strangers', silent: true });
        n.onclick = () => {
          window.focus();
          n.close();
        };
      } catch {
        // Some browsers only allow notifications from a service worker: the sound remains.
      }
    }
    this.#beep();
  }

  #audioContext(): AudioContext | undefined {
    if (this.#audio === undefined && typeof AudioContext === 'function') {
      try {
        this.#audio = new AudioContext();
      } catch {
        return undefined;
      }
    }
    if (this.#audio?.state === 'suspended') void this.#audio.resume().catch(() => {});
    return this.#audio;
  }

  /** A short, soft two-note chime (no audio file to fetch). */
  #beep(): void {
    const ctx = this.#audioContext();
    if (ctx === undefined) return;
    const t = ctx.currentTime;
    for (const [freq, start] of [[660, 0], [880, 0.09]] as const) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t + start);
      gain.gain.exponentialRampToValueAtTime(0.12, t + start + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + start + 0.16);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t + start);
      osc.stop(t + start + 0.18);
    }
  }
}
