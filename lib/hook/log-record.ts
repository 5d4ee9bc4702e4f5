/**
 * One line of the hook's own log: what happened to one call, so an operator can
 * tell why a container did not start (or started unmonitored) after the fact.
 * Pure and import-free: the hook builds it on its hot path.
 */

/**
 * What the call came to. The first three are success; `unconfirmed` means the
 * container went on without the agent's confirmation (fail-open); `refused` and
 * `failed` mean the runtime was told to fail the container.
 */
export type HookResult = "registered" | "unregistered" | "bootstrap" | "unconfirmed" | "refused" | "failed";

export interface HookLogRecord {
  time: string;
  level: "info" | "warn" | "error";
  result: HookResult;
  /** The hook's exit status, as the runtime saw it. */
  status: number;
  /** Milliseconds from the hook's process start to this record. */
  ms: number;
  /** The hook's own pid. */
  pid: number;
  stage?: string;
  container?: string;
  /** `namespace/name` of the pod, when the bundle's annotations name one. */
  pod?: string;
  containerName?: string;
  code?: string;
  /** Where the hook was when it failed. */
  phase?: string;
  /** The line the hook wrote to stderr (the runtime shows it in its error). */
  message?: string;
  /** The spool file of an event the agent did not take, or why it was not spooled. */
  spool?: string;
}

/** A log line is never longer than this: one write(2), well under any file system's atomic append. */
export const MAX_LOG_LINE_BYTES = 4096;
const MAX_FIELD = 1024;

/** The record as one JSON line, long fields cut so the line stays under MAX_LOG_LINE_BYTES. */
export function formatLogLine(record: HookLogRecord): string {
  const line = JSON.stringify(record, (_key, value: unknown) =>
    typeof value === "string" && value.length > MAX_FIELD ? `${value.slice(0, MAX_FIELD)}…` : value,
  );
  // Only reachable with multi-byte characters in several fields at once; keep what identifies the call.
  if (new TextEncoder().encode(line).length <= MAX_LOG_LINE_BYTES) return line;
  const { time, level, result, status, ms, pid, stage, container, code } = record;
  return JSON.stringify({ time, level, result, status, ms, pid, stage, container, code, message: "(record cut: fields too long)" });
}
