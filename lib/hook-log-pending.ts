/**
 * Lines of the hook's log left for the agent to write. Appending to a file needs
 * node:fs, whose loading costs a hook ~5 ms (bench/README.md); Bun.write of a new
 * file costs next to nothing. So a hook whose call succeeded leaves its line as one
 * small file in `hook-log.pending/` beside the socket, and the agent (which has
 * node:fs loaded anyway) appends it to the log within a second. The agent creates
 * that directory: a hook that finds it missing (no agent, or an older one) appends
 * the line itself. A failed call always appends itself: its line is there at once.
 * Nothing here builds a schema at load: the hook imports this on its hot path.
 */
import { dirOf } from "./layout.ts";

/** The directory's name, beside the socket. */
export const PENDING_DIR_NAME = "hook-log.pending";

/** One pending line and where it goes: `log`, a file name in the socket's directory, rotated as the hook was told. */
export interface PendingLogLine {
  v: 1;
  log: string;
  maxBytes: number;
  keep: number;
  line: string;
}

const NAME = /^(\d{16})-(\d{1,10})-([0-9a-f]{8})\.json$/;

/**
 * The name a pending line gives its log (`log` of PendingLogLine), or undefined when
 * lines of `logPath` never wait for the agent on `socket`: only a log in the socket's
 * directory is one the agent can append to (it sees that directory, wherever it runs).
 */
export function pendingLogName(logPath: string, socket: string): string | undefined {
  return dirOf(logPath) === dirOf(socket) ? logPath.slice(logPath.lastIndexOf("/") + 1) : undefined;
}

/** A name that sorts in time order and is unique across hooks: µs since the epoch, pid, random. */
export function pendingFileName(atMicros: number, pid: number, random: number): string {
  return `${String(atMicros).padStart(16, "0")}-${pid}-${(random >>> 0).toString(16).padStart(8, "0")}.json`;
}

/** Whether `name` is a pending line's file (and not a stray). */
export function isPendingFileName(name: string): boolean {
  return NAME.test(name);
}
