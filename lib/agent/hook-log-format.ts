/** One aligned line per hook log record, for `armor-agent hook-log`. */
import type { HookLogRecord } from "../hook-log-record.ts";

/**
 * `TIME LEVEL RESULT STAGE MS ID [pod=NS/NAME] [container=NAME] [status=N] [CODE (PHASE)] [spool=…] [ : MESSAGE]`.
 * The columns up to ID have fixed widths; a runtime's 64-hex id is shown by its first
 * 12 characters, as crictl and docker do (a prefix selects it). Control characters in
 * fields (annotations come from whoever creates the pod) are shown escaped.
 */
export function formatHookLogRecord(record: HookLogRecord): string {
  const columns = [
    clean(record.time),
    record.level.padEnd(5),
    record.result.padEnd(12),
    clean(record.stage ?? "-").padEnd(13),
    `${record.ms.toFixed(1)}ms`.padStart(9),
    shortId(record.container ?? "-").padEnd(12),
  ];
  const details = [
    ...(record.pod !== undefined ? [`pod=${clean(record.pod)}`] : []),
    ...(record.containerName !== undefined ? [`container=${clean(record.containerName)}`] : []),
    ...(record.status !== 0 ? [`status=${record.status}`] : []),
    ...(record.code !== undefined ? [clean(record.code) + (record.phase !== undefined ? ` (${clean(record.phase)})` : "")] : []),
    ...(record.spool !== undefined ? [`spool=${clean(record.spool)}`] : []),
  ];
  const message = record.message !== undefined ? ` : ${clean(record.message)}` : "";
  return [...columns, ...details].join(" ").trimEnd() + message;
}

function shortId(id: string): string {
  return /^[0-9a-f]{64}$/.test(id) ? id.slice(0, 12) : clean(id);
}

// C0 and C1 controls, DEL, and the bidirectional overrides that could disguise a line.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

function clean(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
