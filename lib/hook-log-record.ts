/**
 * The hook's log file format: one JSON line per call, saying what happened to it,
 * so an operator can tell why a container did not start (or started unmonitored)
 * after the fact. The hook writes it; `armor-agent hook-log` reads it. Schema,
 * type, bounds and the writer's formatting live here together. The schema is
 * built on first use: the hook imports this on its hot path and never parses one.
 */
import * as v from "valibot";
import { logJson } from "./log.ts";

/**
 * What the call came to. The first three are success; `unconfirmed` means the
 * container went on without the agent's confirmation (fail-open); `refused` and
 * `failed` mean the runtime was told to fail the container.
 */
export const HOOK_RESULTS = ["registered", "unregistered", "bootstrap", "unconfirmed", "refused", "failed"] as const;
export type HookResult = (typeof HOOK_RESULTS)[number];

/** The log rotates at this size by default; with two rotated files kept, it never holds much more than 3 MiB. */
export const DEFAULT_LOG_MAX_BYTES = 1024 * 1024;
/** Rotated files kept by default (`hook.log.1`, `hook.log.2`). */
export const DEFAULT_LOG_KEEP = 2;
/** Bounds of the rotation size (`--log-max-bytes`). */
export const MIN_LOG_MAX_BYTES = 4096;
export const MAX_LOG_MAX_BYTES = 1024 ** 3;
/** At most this many rotated files (`--log-keep`); `armor-agent hook-log` reads as many. */
export const MAX_LOG_KEEP = 20;

/** A log line is never longer than this: one write(2), well under any file system's atomic append. */
export const MAX_LOG_LINE_BYTES = 4096;
/** A string field is cut to this many characters (and marked with "…") in the line. */
const MAX_FIELD = 1024;

function buildSchema() {
  // Not strict: a newer hook's extra fields must not make an older agent skip its lines.
  return v.object({
    time: v.string(),
    level: v.picklist(["info", "warn", "error"]),
    /** One line for people, as in every log line of armor-hooks (lib/log.ts); written from stage and result when absent. */
    msg: v.exactOptional(v.string()),
    result: v.picklist(HOOK_RESULTS),
    /** The hook's exit status, as the runtime saw it. */
    status: v.number(),
    /** Milliseconds from the hook's process start to this record. */
    ms: v.number(),
    /** The hook's own pid. */
    pid: v.number(),
    stage: v.exactOptional(v.string()),
    container: v.exactOptional(v.string()),
    /** `namespace/name` of the pod, when the bundle's annotations name one. */
    pod: v.exactOptional(v.string()),
    containerName: v.exactOptional(v.string()),
    code: v.exactOptional(v.string()),
    /** Where the hook was when it failed. */
    phase: v.exactOptional(v.string()),
    /** The line the hook wrote to stderr (the runtime shows it in its error). */
    message: v.exactOptional(v.string()),
    /** The spool file of an event the agent did not take, or why it was not spooled. */
    spool: v.exactOptional(v.string()),
    /** The agent confirmed the registration with a warning: a gate did not decide in time (`serve --gate-policy open`). */
    warning: v.exactOptional(v.string()),
  });
}
let schema: ReturnType<typeof buildSchema> | undefined;

/** The schema of one record (built once, on first use). */
export function hookLogRecordSchema(): ReturnType<typeof buildSchema> {
  return (schema ??= buildSchema());
}
export type HookLogRecord = v.InferOutput<ReturnType<typeof buildSchema>>;

/** The record as one JSON line, long fields cut so the line stays under MAX_LOG_LINE_BYTES. */
export function formatLogLine(record: HookLogRecord): string {
  // The one log schema (lib/log.ts): time, level, msg first.
  const { time, level, msg = `${record.stage ?? "hook"} ${record.result}`, ...fields } = record;
  const line = logJson({ time, level, msg }, fields, (_key, value: unknown) =>
    typeof value === "string" && value.length > MAX_FIELD ? `${value.slice(0, MAX_FIELD)}…` : value,
  );
  // Only reachable with multi-byte characters in several fields at once; keep what identifies the call.
  if (new TextEncoder().encode(line).length <= MAX_LOG_LINE_BYTES) return line;
  const { result, status, ms, pid, stage, container, code } = record;
  return logJson({ time, level, msg: msg.slice(0, 64) }, { result, status, ms, pid, stage, container, code, message: "(record cut: fields too long)" });
}
