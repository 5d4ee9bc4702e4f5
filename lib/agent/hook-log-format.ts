/** One aligned line per hook log record, for `armor-agent hook-log`. */
import { escapeText as clean } from "../escape.ts";
import type { HookLogRecord } from "../hook-log-record.ts";

/**
 * `TIME LEVEL RESULT STAGE MS ID [pod=NS/NAME] [container=NAME] [status=N] [CODE (PHASE)] [spool=…] [ : MESSAGE]`.
 * The columns up to ID have fixed widths; a runtime's 64-hex id is shown by its first
 * 12 characters, as crictl and docker do (a prefix selects it). Every field is escaped
 * (lib/escape.ts): annotations come from whoever creates the pod.
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
