/** A process's start time (clock ticks since boot, /proc/<pid>/stat field 22): tells a live pid from a reused one. */

/**
 * Parses the start time out of a /proc/<pid>/stat line. The command name (field 2)
 * may hold spaces and parentheses, so fields are counted after its last ")".
 */
export function parseStartTime(stat: string): number | undefined {
  const end = stat.lastIndexOf(")");
  if (end < 0) return undefined;
  // After ")": field 3 (state) is index 0, so field 22 is index 19.
  const value = stat.slice(end + 2).split(" ")[19];
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

/**
 * The start time of a process that still runs: undefined for a zombie or a dead task
 * (state Z or X, field 3), whose start time stays in /proc until it is reaped.
 */
export function liveStartTime(stat: string): number | undefined {
  const state = stat.charAt(stat.lastIndexOf(")") + 2);
  return state === "Z" || state === "X" || state === "x" ? undefined : parseStartTime(stat);
}
