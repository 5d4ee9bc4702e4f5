/**
 * The spool: where the hook leaves an event the agent could not take, for the
 * agent to replay. One file per event, named so that names sort in event order
 * and carry their own size (the hook bounds the spool from names alone):
 * `<µs since epoch, 16 digits>-<hook pid>-<random>-<bytes>.json`. A file appears
 * under that name only once complete (written as `.tmp-<name>`, then renamed).
 * Nothing here builds a schema at load: the hook imports this on its hot path
 * (lib/agent/spool.ts validates what it reads).
 */
import type { ContainerInfo } from "./container.ts";

/** At most this many spooled events; the hook drops (with a warning) beyond it. */
export const MAX_SPOOL_FILES = 4096;
/** At most this many bytes of spooled events in all. */
export const MAX_SPOOL_BYTES = 16 * 1024 * 1024;
/** One event's file is never larger than one frame. */
export const MAX_SPOOL_ENTRY_BYTES = 64 * 1024;
/** Prefix of a file still being written; the agent leaves it until its writer has certainly ended, then replays it if complete. */
export const SPOOL_TMP_PREFIX = ".tmp-";

const NAME = /^(\d{16})-(\d{1,10})-([0-9a-f]{8})-(\d{1,8})\.json$/;

/** One spooled event, as the hook writes it. */
export type SpoolRecord = { v: 1; at: number; op: "register"; container: ContainerInfo } | { v: 1; at: number; op: "unregister"; container: string };

/** Microseconds since the epoch, the clock spool and pending-log file names sort by. */
export function epochMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

/** The file name of an event spooled at `atMicros` by process `pid`, `bytes` long. */
export function spoolFileName(atMicros: number, pid: number, random: number, bytes: number): string {
  const rand = (random >>> 0).toString(16).padStart(8, "0");
  return `${String(atMicros).padStart(16, "0")}-${pid}-${rand}-${bytes}.json`;
}

/** The parts of a spool file name, or undefined for a name that is not one (temp files, strays). */
export function parseSpoolFileName(name: string): { atMicros: number; pid: number; bytes: number } | undefined {
  const match = NAME.exec(name);
  if (!match) return undefined;
  return { atMicros: Number(match[1]), pid: Number(match[2]), bytes: Number(match[4]) };
}
