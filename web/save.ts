/**
 * "Save": the conversation on screen as a text file, made in the browser (a Blob and a download
 * link). Nothing is sent or stored anywhere.
 */

/** One line of the transcript: who wrote it ('' for the page's own notices) and the text. */
export interface TranscriptLine {
  readonly who: string;
  readonly text: string;
}

/** The text of the file. */
export function transcript(lines: readonly TranscriptLine[], question: string, at: Date): string {
  const out = [`Strangers · conversation saved ${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`];
  if (question !== '') out.push(`Question: ${question}`);
  out.push('');
  for (const l of lines) {
    const text = l.text.replace(/\r\n?/g, '\n');
    if (l.who === '') out.push(`— ${text}`);
    else out.push(`${l.who}: ${text.replace(/\n/g, `\n${' '.repeat(l.who.length + 2)}`)}`);
  }
  return `${out.join('\n')}\n`;
}

/** `strangers-2026-11-30-1405.txt` */
export function fileName(at: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `strangers-${at.getFullYear()}-${p(at.getMonth() + 1)}-${p(at.getDate())}-${p(at.getHours())}${p(at.getMinutes())}.txt`;
}

/** Downloads `text` as a file named `name` (UTF-8 plain text). */
export function download(text: string, name: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  // The download has its own copy once started; the URL can go.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
