/** The one clock spool files are named by; nothing else here, so the hook's log imports no schema with it. */

/** Microseconds since the epoch, the clock spool file names sort by. */
export function epochMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}
