/**
 * The one place where a hook's success record, received over the socket, becomes a
 * line of the hook's log (lib/hook-log-record.ts). A hook's register or unregister
 * carries its line's facts (`log`); once the agent has answered the call ok, the server
 * hands them here with what the agent itself knows of that call. They are trusted for
 * nothing they could forge: the container, stage,
 * result, pod, container name and time come from the agent (the request it answered,
 * the record it held), and only the hook's pid, its duration and its rotation
 * settings — validated and bounded by the schema — come from the request. A client on
 * the socket can already register and remove any container; a `log` lets it add no
 * line beyond one for a call it really made, and JSON escaping is the
 * agent's. A failed call still appends its own line: it has no agent to tell.
 */
import type { Pod } from "../container.ts";
import { formatLogLine, type HookLogRecord } from "../hook-log-record.ts";
import type { Logger } from "../log.ts";
import type { AppendResult, RotatingLogOptions } from "../rotating-log.ts";

/** What the agent knows of the hook call a record is about: the request it answered on that connection. */
export interface AnsweredHookCall {
  op: "register" | "unregister";
  container: string;
  /** The container as registered, or as held when it was removed; null when the agent never held it. */
  held: { pod: Pod | null; containerName: string | null } | null;
  /** The warning the agent's answer carried: a gate did not decide (`serve --gate-policy open`). */
  warning?: string;
}

/** What the request's `log` contributes (HookLogSchema, lib/wire/messages.ts), `ms` with the agent's own time added. */
export interface HookReport {
  pid: number;
  ms: number;
  maxBytes: number;
  keep: number;
}

/** Handles one received record; the server calls it once per hook call it answered ok with a `log`. */
export type HookRecordHandler = (call: AnsweredHookCall, report: HookReport) => void;

/** The record the agent writes for a call it answered. */
export function hookRecordOf(call: AnsweredHookCall, report: HookReport, now: Date): HookLogRecord {
  const record: HookLogRecord = {
    time: now.toISOString(),
    level: "info",
    result: call.op === "register" ? "registered" : "unregistered",
    status: 0,
    ms: Math.round(report.ms * 100) / 100,
    pid: report.pid,
    stage: call.op === "register" ? "createRuntime" : "poststop",
    container: call.container,
  };
  if (call.held?.pod) record.pod = `${call.held.pod.namespace}/${call.held.pod.name}`;
  if (call.held?.containerName != null) record.containerName = call.held.containerName;
  if (call.warning !== undefined) {
    record.level = "warn";
    record.warning = call.warning;
  }
  return record;
}

/** What the handler writes with. */
export interface HookRecordsDeps {
  /** The hook's log beside the socket (layout(socket).hookLog). */
  path: string;
  append: (options: RotatingLogOptions, line: string) => AppendResult;
  log: Logger;
  now?: () => Date;
  /** Told of every record written (metrics count hook calls here). */
  observe?: (record: HookLogRecord) => void;
}

/** The agent's handler of received hook records: appends each to the log, rotated as the hook was told. */
export function hookRecordHandler(deps: HookRecordsDeps): HookRecordHandler {
  return (call, report) => {
    const record = hookRecordOf(call, report, deps.now?.() ?? new Date());
    const result = deps.append({ path: deps.path, maxBytes: report.maxBytes, keep: report.keep }, formatLogLine(record));
    if ("failed" in result) deps.log("warn", "could not append a hook's log line", { error: result.failed, container: call.container });
    deps.observe?.(record);
  };
}
