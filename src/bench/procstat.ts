/**
 * Reads a process's CPU time and resident memory from Linux's /proc, so the load generator
 * can report a server's cost without any cooperation from the server.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on every Linux we run on). */
const CLK_TCK = 100;

/** One reading of a process. */
export interface ProcSample {
  /** User + system CPU time since the process started, in seconds. */
  readonly cpuSeconds: number;
  /** Resident set size in bytes (VmRSS). */
  readonly rssBytes: number;
  /** Peak resident set size in bytes (VmHWM). */
  readonly peakRssBytes: number;
}

/**
 * Parses /proc/<pid>/stat: utime and stime are fields 14 and 15, counted after the command
 * name, which is in parentheses and may itself contain spaces or parentheses.
 */
export function parseStat(text: string): { cpuSeconds: number } {
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is field 3 (state), so field k is fields[k - 3].
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  return { cpuSeconds: (utime + stime) / CLK_TCK };
}

/** Parses VmRSS and VmHWM (kB) from /proc/<pid>/status. */
export function parseStatus(text: string): { rssBytes: number; peakRssBytes: number } {
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(text);
  const hwm = /^VmHWM:\s+(\d+) kB/m.exec(text);
  return { rssBytes: rss ? Number(rss[1]) * 1024 : 0, peakRssBytes: hwm ? Number(hwm[1]) * 1024 : 0 };
}

/** Reads one sample of `pid`, or undefined when the process is gone or /proc is missing. */
export function sampleProcess(pid: number): ProcSample | undefined {
  try {
    const stat = parseStat(readFileSync(`/proc/${pid}/stat`, 'latin1'));
    const status = parseStatus(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return { cpuSeconds: stat.cpuSeconds, ...status };
  } catch {
    return undefined;
  }
}
