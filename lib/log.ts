/** Structured JSON log lines on stderr: one object per line, with time, level and message. */
import { escapeJson } from "./escape.ts";

export type Level = "debug" | "info" | "warn" | "error";
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Writes one log record. */
export type Logger = (level: Level, msg: string, fields?: Record<string, unknown>) => void;

/**
 * The fields every JSON log line of armor-hooks starts with, in this order: the agent's lines on
 * stderr and the hook's lines in its log (lib/hook-log-record.ts) alike.
 */
export const LOG_HEAD = ["time", "level", "msg"] as const;

/**
 * One log line's JSON: `time`, `level` and `msg` first, then the fields. A field named like one of
 * those three can never replace it: it is written as `field.time` (and so on) instead.
 */
export function logJson(
  head: { time: string; level: string; msg: string },
  fields?: Record<string, unknown>,
  replacer?: (key: string, value: unknown) => unknown,
): string {
  const record: Record<string, unknown> = { time: head.time, level: head.level, msg: head.msg };
  if (fields) for (const [key, value] of Object.entries(fields)) record[(LOG_HEAD as readonly string[]).includes(key) ? `field.${key}` : key] = value;
  return JSON.stringify(record, replacer);
}

/** A logger writing JSON lines to `write` (stderr by default), dropping levels below `min`. */
export function jsonLogger(
  min: Level = "info",
  write: (line: string) => void = (line) => process.stderr.write(line),
  now: () => Date = () => new Date(),
): Logger {
  return (level, msg, fields) => {
    if (RANK[level] < RANK[min]) return;
    write(`${escapeJson(logJson({ time: now().toISOString(), level, msg }, fields))}\n`);
  };
}
