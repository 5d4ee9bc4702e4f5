/**
 * Clocks for the monitoring-gap measurement. Busybox's `date` has no sub-second
 * format, so a container reads CLOCK_MONOTONIC (ns) from the "now at" line of
 * /proc/timer_list with a shell builtin (no fork); the agent stamps records with
 * CLOCK_REALTIME (`registeredAt`, ms). The bench relates the two clocks with
 * clock_gettime through FFI.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";

const CLOCK_REALTIME = 0;
const CLOCK_MONOTONIC = 1;

const libc = dlopen("libc.so.6", { clock_gettime: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 } });
const timespec = new BigInt64Array(2);
const timespecPtr = ptr(timespec);

function clockNs(clock: number): bigint {
  if (libc.symbols.clock_gettime(clock, timespecPtr) !== 0) throw new Error("clock_gettime failed");
  return (timespec[0] as bigint) * 1_000_000_000n + (timespec[1] as bigint);
}

/** CLOCK_MONOTONIC now, in ns. */
export const monotonicNs = (): bigint => clockNs(CLOCK_MONOTONIC);

/**
 * REALTIME − MONOTONIC in ns: the tightest of `tries` bracketed readings (realtime,
 * monotonic, realtime), so the error is well under a microsecond.
 */
export function realtimeOffsetNs(tries = 200): bigint {
  let best: { width: bigint; offset: bigint } | undefined;
  for (let i = 0; i < tries; i++) {
    const before = clockNs(CLOCK_REALTIME);
    const mono = clockNs(CLOCK_MONOTONIC);
    const after = clockNs(CLOCK_REALTIME);
    const width = after - before;
    if (!best || width < best.width) best = { width, offset: before + width / 2n - mono };
  }
  return best?.offset ?? 0n;
}

/**
 * Shell (busybox sh) that appends the current CLOCK_MONOTONIC ns to `file`, with
 * builtins only: the first read() of /proc/timer_list renders its header, whose
 * third line is "now at N nsecs".
 */
export const shellStamp = (file: string): string => `{ read -r _; read -r _; read -r _ _ n _; } </proc/timer_list; echo "$n" >>${file}`;

/** Process CPU time (user + system) of `pid` in seconds, from /proc/<pid>/stat (clock ticks of 10 ms). */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Bun.file(`/proc/${pid}/stat`).text();
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 (utime) and 15 (stime) are indexes 11 and 12 after ")".
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
