/**
 * The hook's log line for one call. The hook's register or unregister carries its
 * line's facts (`log`), and the agent writes the line once it has answered the call
 * ok (lib/agent/hook-records.ts), so the healthy path never loads node:fs and sends
 * one frame. Any other call appends its own line (lib/rotating-log.ts): it has no
 * agent to tell, and its line is there at once.
 */
import type { ErrorCode } from "../errors.ts";
import { formatLogLine, type HookLogRecord, type HookResult } from "../hook-log-record.ts";
import { layout } from "../layout.ts";
import { kubernetesIdentity } from "../oci/kubernetes.ts";
import type { HookLog } from "../wire/messages.ts";
import type { LogSettings } from "./args.ts";
import type { HookDeps, HookOutcome } from "./deps.ts";

/** An outcome, with what the log says of it. */
export interface Decision {
  outcome: HookOutcome;
  result: HookResult;
  code?: ErrorCode;
  /** Where the unconfirmed event went: a spool file, or why nowhere. */
  spool?: string;
  /** The agent was sent the line (the request's `log`) and answered ok: the hook writes none. */
  sentToAgent?: boolean;
  /** The agent's warning on a registration it confirmed (a gate that did not decide, under --gate-policy open). */
  warning?: string;
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
export type LogDeps = Pick<HookDeps, "writeLog" | "now" | "elapsedMs" | "pid">;

/**
 * The `log` field a register or unregister carries, taken as it is sent; none when the agent
 * does not write this log: it writes only the log beside its socket.
 */
export function agentLog(deps: LogDeps, settings: LogSettings | null, socket: string): { log?: HookLog } {
  if (settings === null || settings.path !== layout(socket).hookLog) return {};
  return { log: { pid: deps.pid ?? process.pid, ms: elapsed(deps), maxBytes: settings.maxBytes, keep: settings.keep } };
}

/** Notes the pod and container name the annotations give, for a line the hook writes itself. */
export function noteIdentity(facts: Pick<CallFacts, "pod" | "containerName">, annotations: Readonly<Record<string, string>>): void {
  const identity = kubernetesIdentity(annotations);
  if (identity.pod) facts.pod = `${identity.pod.namespace}/${identity.pod.name}`;
  if (identity.containerName !== null) facts.containerName = identity.containerName;
}

function elapsed(deps: LogDeps): number {
  return Math.round((deps.elapsedMs?.() ?? performance.now()) * 100) / 100;
}

/** Whether the hook writes this call's line itself: there is a log, and the agent was not sent the line. */
export function writesOwnLine(settings: LogSettings | null, decision: Decision): settings is LogSettings {
  return settings !== null && !decision.sentToAgent;
}

/** Appends the call's record to the hook's log, unless the agent was sent it; never fails the hook. */
export async function logCall(deps: LogDeps, settings: LogSettings | null, progress: CallFacts, decision: Decision): Promise<void> {
  if (!writesOwnLine(settings, decision) || !deps.writeLog) return;
  const { outcome } = decision;
  const record: HookLogRecord = {
    time: (deps.now?.() ?? new Date()).toISOString(),
    level: outcome.status !== 0 ? "error" : decision.result === "unconfirmed" || decision.warning !== undefined ? "warn" : "info",
    result: decision.result,
    status: outcome.status,
    ms: elapsed(deps),
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
  if (decision.warning !== undefined) record.warning = decision.warning;
  try {
    await deps.writeLog(settings, formatLogLine(record));
  } catch {
    // The log is for the operator; its failure never changes what the runtime is told.
  }
}
