/**
 * The hook's log line for one call: built from what the call came to, then left
 * for the agent (a successful call, beside the socket: no node:fs on the hot path,
 * lib/hook-log-pending.ts) or appended by the hook itself (lib/rotating-log.ts).
 */
import type { ErrorCode } from "../errors.ts";
import { pendingFileName, pendingLogName, type PendingLogLine } from "../hook-log-pending.ts";
import { layout } from "../layout.ts";
import { epochMicros } from "../clock.ts";
import type { LogSettings } from "./args.ts";
import { formatLogLine, type HookLogRecord, type HookResult } from "../hook-log-record.ts";
import type { HookDeps, HookOutcome } from "./deps.ts";

/** An outcome, with what the log says of it. */
export interface Decision {
  outcome: HookOutcome;
  result: HookResult;
  code?: ErrorCode;
  /** Where the unconfirmed event went: a spool file, or why nowhere. */
  spool?: string;
}

/** What the call knew of its container when it ended. */
export interface CallFacts {
  stage?: string | undefined;
  containerId?: string;
  pod?: string;
  containerName?: string;
  phase: string;
  failedIn?: string;
}

/** The hook's effects the log needs. */
export type LogDeps = Pick<HookDeps, "writeLog" | "leaveFile" | "now" | "nowMicros" | "elapsedMs" | "pid">;

/**
 * Appends the call's record to the hook's log, if there is one; never fails the hook.
 * A successful call whose log is beside the socket leaves its line for the agent to append.
 */
export async function logCall(deps: LogDeps, settings: LogSettings | null, progress: CallFacts, decision: Decision, socket?: string): Promise<void> {
  if (settings === null || !deps.writeLog) return;
  const { outcome } = decision;
  const record: HookLogRecord = {
    time: (deps.now?.() ?? new Date()).toISOString(),
    level: outcome.status !== 0 ? "error" : decision.result === "unconfirmed" ? "warn" : "info",
    result: decision.result,
    status: outcome.status,
    ms: Math.round((deps.elapsedMs?.() ?? performance.now()) * 100) / 100,
    pid: deps.pid ?? process.pid,
  };
  if (progress.stage !== undefined) record.stage = progress.stage;
  if (progress.containerId !== undefined) record.container = progress.containerId;
  if (progress.pod !== undefined) record.pod = progress.pod;
  if (progress.containerName !== undefined) record.containerName = progress.containerName;
  if (decision.code !== undefined) {
    record.code = decision.code;
    record.phase = progress.failedIn ?? progress.phase;
  }
  if (outcome.stderr !== undefined) record.message = outcome.stderr;
  if (decision.spool !== undefined) record.spool = decision.spool;
  const line = formatLogLine(record);
  const succeeded = decision.result === "registered" || decision.result === "unregistered" || decision.result === "bootstrap";
  const log = socket === undefined ? undefined : pendingLogName(settings.path, socket);
  if (succeeded && socket !== undefined && log !== undefined && deps.leaveFile) {
    const pending: PendingLogLine = {
      v: 1,
      log,
      maxBytes: settings.maxBytes,
      keep: settings.keep,
      line,
    };
    const random = crypto.getRandomValues(new Uint32Array(1))[0] ?? 0;
    const at = deps.nowMicros?.() ?? epochMicros();
    try {
      return await deps.leaveFile(layout(socket).hookLogPending, pendingFileName(at, record.pid, random), `${JSON.stringify(pending)}\n`);
    } catch {
      // No pending directory: no agent that appends them (or an older one). Append it here.
    }
  }
  try {
    await deps.writeLog(settings, line);
  } catch {
    // The log is for the operator; its failure never changes what the runtime is told.
  }
}
