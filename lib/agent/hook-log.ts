/**
 * `armor-agent hook-log`: what the hook's own log says about past calls — why a
 * container did not start, or started unmonitored. Reads the log files only; no
 * agent needs to be running. Files are opened through `deps`, so tests need none.
 */
import * as v from "valibot";
import { ArmorError } from "../errors.ts";
import { HOOK_RESULTS, hookLogRecordSchema, MAX_LOG_KEEP, type HookLogRecord } from "../hook-log-record.ts";
import { parseWith } from "../validate.ts";
import type { Print } from "./commands.ts";
import { formatHookLogRecord } from "./hook-log-format.ts";
import { Ring, splitLines } from "./lines.ts";

export { HOOK_RESULTS };

/** The hook keeps at most this many rotated files (`--log-keep` 1..20 in lib/hook/args.ts). */
export const MAX_ROTATED = MAX_LOG_KEEP;
/** The most records --tail keeps in memory (a hook line is at most 4 KiB). */
export const MAX_TAIL = 100_000;
/** The hook writes lines of at most 4 KiB; a longer line is foreign and skipped without being held whole. */
const MAX_LINE_BYTES = 64 * 1024;

/** Which records to show. */
export interface HookLogQuery {
  /** An id prefix, or exactly a pod ("namespace/name") or a container name. */
  container?: string;
  results?: ReadonlySet<string>;
  tail?: number;
}

const ContainerArgSchema = v.pipe(v.string(), v.minLength(1, "must not be empty"), v.maxLength(1024, "is longer than 1024 characters"));
const ResultArgSchema = v.picklist(HOOK_RESULTS, `must be one of ${HOOK_RESULTS.join(", ")}`);
const TailArgSchema = v.pipe(
  v.string(),
  v.regex(/^\d{1,7}$/, `must be a whole number from 1 to ${MAX_TAIL}`),
  v.transform(Number),
  v.minValue(1, `must be a whole number from 1 to ${MAX_TAIL}`),
  v.maxValue(MAX_TAIL, `must be a whole number from 1 to ${MAX_TAIL}`),
);

/** Validates the command line: CONTAINER, --result R[,R…] and --tail N; E_USAGE on a bad one. */
export function parseHookLogQuery(raw: { container?: string | undefined; result?: string | undefined; tail?: string | undefined }): HookLogQuery {
  const query: HookLogQuery = {};
  if (raw.container !== undefined) query.container = parseWith(ContainerArgSchema, raw.container, "CONTAINER", "E_USAGE");
  if (raw.result !== undefined) {
    const names = raw.result.split(",").map((name) => name.trim());
    query.results = new Set(names.map((name) => parseWith(ResultArgSchema, name, `--result "${name}"`, "E_USAGE")));
  }
  if (raw.tail !== undefined) query.tail = parseWith(TailArgSchema, raw.tail, "--tail", "E_USAGE");
  return query;
}

/** Whether a record is one the query asks for. */
export function matchesQuery(record: HookLogRecord, query: HookLogQuery): boolean {
  if (query.results && !query.results.has(record.result)) return false;
  const wanted = query.container;
  if (wanted === undefined) return true;
  return record.container?.startsWith(wanted) === true || record.pod === wanted || record.containerName === wanted;
}

/** The log's files, oldest first: PATH.20 … PATH.1, then PATH. */
export function hookLogFiles(path: string): string[] {
  return [...Array.from({ length: MAX_ROTATED }, (_, i) => `${path}.${MAX_ROTATED - i}`), path];
}

/** One log file, opened: `identity` tells whether two names are the same file (device:inode). */
export interface OpenedLog {
  identity: string;
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
}

/** What hookLogCommand() reads and writes through. */
export interface HookLogDeps {
  /** Opens a log file for reading; null when it does not exist. */
  open: (path: string) => OpenedLog | null | Promise<OpenedLog | null>;
  print: Print;
  /** Where the count of skipped lines goes (stderr). */
  warn: Print;
}

/**
 * `armor-agent hook-log`: prints the matching records of `path` and its rotated
 * files in the order they were written, as JSON lines as read or one formatted
 * line each. Lines that are not records are skipped and counted on `warn`.
 * E_USAGE when no file exists; E_NOT_FOUND when CONTAINER matches no record.
 */
export async function hookLogCommand(path: string, query: HookLogQuery, json: boolean, deps: HookLogDeps): Promise<number> {
  const files = await openAll(path, deps);
  if (files.length === 0)
    throw new ArmorError("E_USAGE", `no hook log at ${path} (nor ${path}.1 … .${MAX_ROTATED}): pass the --socket or --log-file the hook uses`);
  const tail = query.tail === undefined ? null : new Ring<string>(query.tail);
  const skipped = new Map<string, number>();
  let matched = 0;
  const consider = (line: string | null, where: string): void => {
    if (line === "") return;
    const record = line === null ? null : parseRecord(line);
    if (line === null || record === null) {
      skipped.set(where, (skipped.get(where) ?? 0) + 1);
      return;
    }
    if (!matchesQuery(record, query)) return;
    matched++;
    const shown = json ? line : formatHookLogRecord(record);
    if (tail) tail.push(shown);
    else deps.print(shown);
  };
  for (const file of files) {
    for await (const line of splitLines(file.chunks, MAX_LINE_BYTES)) consider(line, file.path);
  }
  for (const shown of tail?.items() ?? []) deps.print(shown);
  if (skipped.size > 0) deps.warn(describeSkipped(skipped));
  if (matched === 0 && query.container !== undefined) {
    const results = query.results ? ` with result ${[...query.results].join(",")}` : "";
    throw new ArmorError("E_NOT_FOUND", `no hook log record${results} for container "${query.container}" in ${describeFiles(files.map((file) => file.path))}`);
  }
  return matched;
}

/**
 * Opens every file before reading any, newest first, and drops a name whose file was
 * already opened: a rotation meanwhile then shows a file twice (dropped) rather than
 * moving one past us unread. Reading open descriptors, later rotations change nothing.
 */
async function openAll(path: string, deps: HookLogDeps): Promise<Array<OpenedLog & { path: string }>> {
  const opened: Array<OpenedLog & { path: string }> = [];
  const seen = new Set<string>();
  for (const file of hookLogFiles(path).reverse()) {
    const log = await deps.open(file);
    if (log === null || seen.has(log.identity)) continue;
    seen.add(log.identity);
    opened.push({ ...log, path: file });
  }
  return opened.reverse();
}

function parseRecord(line: string): HookLogRecord | null {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return null;
  }
  const result = v.safeParse(hookLogRecordSchema(), raw);
  return result.success ? result.output : null;
}

/** "skipped 3 lines …: 2 in PATH.1, 1 in PATH". */
function describeSkipped(skipped: ReadonlyMap<string, number>): string {
  const total = [...skipped.values()].reduce((sum, n) => sum + n, 0);
  const where = [...skipped].map(([file, n]) => `${n} in ${file}`).join(", ");
  return `skipped ${total} ${total === 1 ? "line that is not a hook log record" : "lines that are not hook log records"}: ${where}`;
}

/** The files read, oldest to newest. */
function describeFiles(paths: readonly string[]): string {
  if (paths.length <= 2) return paths.join(" and ");
  return `${paths[0]} … ${paths[paths.length - 1]} (${paths.length} files)`;
}
