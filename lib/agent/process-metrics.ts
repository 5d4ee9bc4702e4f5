/** The agent's own process, for the standard process_* metrics: CPU, memory, file descriptors, start time. */
import { readdirSync, readFileSync } from "node:fs";

/** One reading; a value the system does not show is null (its family is then left out). */
export interface ProcessSample {
  cpuSeconds: number | null;
  residentBytes: number | null;
  virtualBytes: number | null;
  openFds: number | null;
  maxFds: number | null;
  startTimeSeconds: number | null;
}

/** What a reading looks at: /proc and the runtime's own counters. */
export interface ProcessReader {
  readText: (path: string) => string;
  countDir: (path: string) => number;
  cpuMicros: () => number;
  residentBytes: () => number;
}

export const procReader: ProcessReader = {
  readText: (path) => readFileSync(path, "utf8"),
  countDir: (path) => readdirSync(path).length,
  cpuMicros: () => {
    const { user, system } = process.cpuUsage();
    return user + system;
  },
  residentBytes: () => process.memoryUsage.rss(),
};

/** /proc's clock ticks per second (USER_HZ, 100 on every Linux architecture Bun runs on). */
const USER_HZ = 100;

function attempt<T>(read: () => T): T | null {
  try {
    return read();
  } catch {
    return null;
  }
}

/** Reads the process's figures now; never throws. */
export function sampleProcess(reader: ProcessReader = procReader, self = "/proc/self"): ProcessSample {
  // Fields after the command name, which may itself hold spaces and parentheses: proc(5) numbers them from 3.
  const stat = attempt(() => reader.readText(`${self}/stat`));
  const fields = stat === null ? [] : stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const field = (n: number): number | null => {
    const value = Number(fields[n - 3]);
    return fields[n - 3] === undefined || !Number.isFinite(value) ? null : value;
  };
  const bootTime = attempt(() => Number(/^btime (\d+)$/m.exec(reader.readText("/proc/stat"))?.[1] ?? Number.NaN));
  const startTicks = field(22);
  const maxFds = attempt(() => Number(/^Max open files\s+(\d+)/m.exec(reader.readText(`${self}/limits`))?.[1] ?? Number.NaN));
  const finite = (value: number | null): number | null => (value === null || !Number.isFinite(value) ? null : value);
  return {
    cpuSeconds: finite(attempt(() => reader.cpuMicros() / 1e6)),
    residentBytes: finite(attempt(() => reader.residentBytes())),
    virtualBytes: field(23),
    // The listing's own descriptor is one of them.
    openFds: finite(attempt(() => reader.countDir(`${self}/fd`) - 1)),
    maxFds: finite(maxFds),
    startTimeSeconds: bootTime === null || startTicks === null || !Number.isFinite(bootTime) ? null : bootTime + startTicks / USER_HZ,
  };
}
