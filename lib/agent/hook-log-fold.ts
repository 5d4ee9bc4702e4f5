/**
 * The agent's side of the hook's log: it appends the lines that successful hook
 * calls left in `hook-log.pending/` (lib/hook-log-pending.ts) to their log file,
 * oldest first, at start and every second, and removes them. A line that is not
 * one is removed with a warning; one still being written is left for the next
 * pass, unless it has been incomplete for so long that its hook must have died.
 */
import { readdirSync, unlinkSync } from "node:fs";
import * as v from "valibot";
import { errnoOf } from "../errors.ts";
import { isPendingFileName } from "../hook-log-pending.ts";
import { MAX_LOG_LINE_BYTES } from "../hook-log-record.ts";
import type { Logger } from "../log.ts";
import { appendLogLine, type AppendResult, type RotatingLogOptions } from "../rotating-log.ts";
import { describeIssue } from "../validate.ts";
import { fileAgeMs, preparePrivateDir } from "./private-dir.ts";
import { SerialPass } from "./serial-pass.ts";

/** How often the agent appends pending lines: the log lags successful calls by at most this. */
export const FOLD_INTERVAL_MS = 1000;
/** A pending file still incomplete after this long was left by a hook killed while writing it. */
export const TORN_AFTER_MS = 10_000;
/** At most this many lines per pass: a backlog never stalls the agent's event loop. */
export const MAX_LINES_PER_PASS = 2000;

const MAX_FILE_BYTES = MAX_LOG_LINE_BYTES + 512;

/** A pending line, as the agent accepts it: its log is a plain file name in the socket's directory. */
export const PendingLogLineSchema = v.strictObject({
  v: v.literal(1),
  log: v.pipe(v.string(), v.regex(/^(?!\.\.?$)[^/\0]{1,255}$/, "log must be a file name in the socket's directory")),
  maxBytes: v.pipe(v.number(), v.integer(), v.minValue(4096), v.maxValue(1024 ** 3)),
  keep: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(20)),
  line: v.pipe(v.string(), v.maxLength(MAX_LOG_LINE_BYTES), v.regex(/^[^\n]+$/, "line must be one line")),
});

/** The file system as the folder sees it; injected so tests can stage any state. */
export interface FoldHost {
  readDir: (dir: string) => string[];
  readText: (path: string) => Promise<string>;
  remove: (path: string) => void;
  /** Age of a file in ms, or undefined when it is gone. */
  ageMs: (path: string) => number | undefined;
  append: (options: RotatingLogOptions, line: string) => AppendResult;
}

/** What one pass did. */
export interface FoldReport {
  appended: number;
  /** Lines whose log could not be written: removed, with a warning. */
  failed: number;
  /** Files that were not pending lines: removed, with a warning. */
  bad: number;
  /** Files still being written: left for the next pass. */
  waiting: number;
}

export class PendingLogFolder {
  readonly dir: string;
  readonly #logDir: string;
  readonly #log: Logger;
  readonly #host: FoldHost;
  readonly #passes = new SerialPass(() => this.#foldOnce());

  /** `dir`: the pending directory; `logDir`: where the log files are (the socket's directory). */
  constructor(options: { dir: string; logDir: string; log: Logger; host?: FoldHost }) {
    this.dir = options.dir;
    this.#logDir = options.logDir;
    this.#log = options.log;
    this.#host = options.host ?? realFoldHost;
  }

  /** Creates the directory: from now on, successful hook calls leave their lines here. */
  prepare(): void {
    preparePrivateDir(this.dir, "pending hook log");
  }

  /** Appends what is pending, oldest first. Passes never overlap. */
  fold(): Promise<FoldReport> {
    return this.#passes.run();
  }

  /** Folds again every `intervalMs`. */
  start(intervalMs = FOLD_INTERVAL_MS): void {
    this.#passes.start(intervalMs);
  }

  stop(): void {
    this.#passes.stop();
  }

  async #foldOnce(): Promise<FoldReport> {
    const report: FoldReport = { appended: 0, failed: 0, bad: 0, waiting: 0 };
    let names: string[];
    try {
      names = this.#host.readDir(this.dir);
    } catch (err) {
      this.#log("warn", "cannot read the pending hook log", { dir: this.dir, error: errnoOf(err) ?? String(err) });
      return report;
    }
    for (const name of inTimeOrder(names).slice(0, MAX_LINES_PER_PASS)) {
      const path = `${this.dir}/${name}`;
      const file = await readPendingFile(this.#host, path);
      if (file.state === "gone") continue;
      if (file.state === "incomplete") {
        const age = this.#host.ageMs(path);
        if (age !== undefined && age > TORN_AFTER_MS) this.#discard(path, report, "bad", "left incomplete by its hook");
        else report.waiting += 1;
        continue;
      }
      if (file.state === "bad") {
        this.#discard(path, report, "bad", `not a pending log line: ${file.reason}`);
        continue;
      }
      const { pending } = file;
      const result = this.#host.append({ path: `${this.#logDir}/${pending.log}`, maxBytes: pending.maxBytes, keep: pending.keep }, pending.line);
      // A log that cannot be written loses the line, not the agent's disk: the warning says so.
      if ("failed" in result) this.#discard(path, report, "failed", `cannot append it to the hook log: ${result.failed}`);
      else this.#discard(path, report, "appended");
    }
    return report;
  }

  #discard(path: string, report: FoldReport, as: "appended" | "failed" | "bad", warning?: string): void {
    report[as] += 1;
    if (warning) this.#log("warn", `removing ${path}: ${warning}`);
    try {
      this.#host.remove(path);
    } catch (err) {
      if (errnoOf(err) !== "ENOENT") this.#log("warn", "cannot remove a pending hook log line", { file: path, error: errnoOf(err) ?? String(err) });
    }
  }
}

/** The pending files among `names`, oldest first: names start with µs since the epoch. */
function inTimeOrder(names: readonly string[]): string[] {
  return names.filter(isPendingFileName).sort();
}

/** A pending file as read: gone meanwhile, still being written, not a pending line (and why), or its line. */
type PendingFile =
  { state: "gone" } | { state: "incomplete" } | { state: "bad"; reason: string } | { state: "line"; pending: v.InferOutput<typeof PendingLogLineSchema> };

async function readPendingFile(host: Pick<FoldHost, "readText">, path: string): Promise<PendingFile> {
  const text = await host.readText(path).catch(() => undefined);
  if (text === undefined) return { state: "gone" };
  // Bun.write opens, then writes: a reader may come in between.
  if (!text.endsWith("\n")) return { state: "incomplete" };
  const parsed = parse(text);
  return typeof parsed === "string" ? { state: "bad", reason: parsed } : { state: "line", pending: parsed };
}

/** The pending line in `text`, or what is wrong with it. */
function parse(text: string): v.InferOutput<typeof PendingLogLineSchema> | string {
  if (text.length > MAX_FILE_BYTES) return `larger than ${MAX_FILE_BYTES} bytes`;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  const parsed = v.safeParse(PendingLogLineSchema, json);
  return parsed.success ? parsed.output : describeIssue(parsed.issues[0]);
}

/** The real file system. */
export const realFoldHost: FoldHost = {
  readDir: (dir) => readdirSync(dir),
  readText: (path) =>
    Bun.file(path)
      .slice(0, MAX_FILE_BYTES + 1)
      .text(),
  remove: (path) => unlinkSync(path),
  ageMs: fileAgeMs,
  append: appendLogLine,
};

/** The lines pending for `log`, oldest first, as `armor-agent hook-log` shows them: read only, never removed. */
export async function readPendingLines(dir: string, log: string, host: Pick<FoldHost, "readDir" | "readText"> = realFoldHost): Promise<string[]> {
  let names: string[];
  try {
    names = host.readDir(dir);
  } catch {
    return [];
  }
  const lines: string[] = [];
  for (const name of inTimeOrder(names)) {
    const file = await readPendingFile(host, `${dir}/${name}`);
    if (file.state === "line" && file.pending.log === log) lines.push(file.pending.line);
  }
  return lines;
}
