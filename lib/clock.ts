/** The one clock spool files and pending log lines are named by; nothing else here, so the hook's log imports no schema with it. */

/** Microseconds since the epoch, the clock spool and pending-log file names sort by. */
export function epochMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}
