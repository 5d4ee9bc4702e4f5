/** Structured JSON log lines on stderr: one object per line, with time, level and message. */
import { escapeJson } from "./escape.ts";

export type Level = "debug" | "info" | "warn" | "error";
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Writes one log record. */
export type Logger = (level: Level, msg: string, fields?: Record<string, unknown>) => void;

/** A logger writing JSON lines to `write` (stderr by default), dropping levels below `min`. */
export function jsonLogger(
  min: Level = "info",
  write: (line: string) => void = (line) => process.stderr.write(line),
  now: () => Date = () => new Date(),
): Logger {
  return (level, msg, fields) => {
    if (RANK[level] < RANK[min]) return;
    write(`${escapeJson(JSON.stringify({ time: now().toISOString(), level, msg, ...fields }))}\n`);
  };
}
