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
