/**
 * The hook's side of the spool: leaves one event the agent could not take as a
 * complete file (temp file, fsync, rename), or drops it with a reason when the
 * spool is full. Loaded only when the agent is unreachable (hook.ts imports it
 * dynamically), so its node:fs costs nothing on the path of a healthy node.
 */
import { open, readdir, rename, unlink } from "node:fs/promises";
import { errnoOf } from "../errors.ts";
import {
  MAX_SPOOL_BYTES,
  MAX_SPOOL_ENTRY_BYTES,
  MAX_SPOOL_FILES,
  parseSpoolFileName,
  SPOOL_TMP_PREFIX,
  spoolFileName,
  type SpoolRecord,
} from "../spool-format.ts";

/** Where the event went: a file, or nowhere and why. */
export type SpoolResult = { written: string } | { dropped: string };

const encoder = new TextEncoder();

/** Writes `record` into `dir` under a sortable name; never throws. */
export async function writeSpool(dir: string, record: SpoolRecord, pid: number = process.pid): Promise<SpoolResult> {
  const bytes = encoder.encode(`${JSON.stringify(record)}\n`);
  if (bytes.length > MAX_SPOOL_ENTRY_BYTES) return { dropped: `event of ${bytes.length} bytes is larger than ${MAX_SPOOL_ENTRY_BYTES}` };
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    return { dropped: `cannot list spool ${dir}: ${errnoOf(err) ?? String(err)}` };
  }
  let files = 0;
  let total = 0;
  for (const name of names) {
    const parsed = parseSpoolFileName(name);
    if (!parsed) continue;
    files += 1;
    total += parsed.bytes;
  }
  if (files + 1 > MAX_SPOOL_FILES || total + bytes.length > MAX_SPOOL_BYTES) {
    return { dropped: `spool ${dir} is full (${files} events, ${total} bytes; limits ${MAX_SPOOL_FILES} events, ${MAX_SPOOL_BYTES} bytes)` };
  }
  const random = crypto.getRandomValues(new Uint32Array(1))[0] ?? 0;
  const name = spoolFileName(record.at, pid, random, bytes.length);
  const tmp = `${dir}/${SPOOL_TMP_PREFIX}${name}`;
  try {
    const file = await open(tmp, "wx", 0o600);
    try {
      await file.writeFile(bytes);
      await file.datasync();
    } finally {
      await file.close();
    }
    await rename(tmp, `${dir}/${name}`);
    return { written: `${dir}/${name}` };
  } catch (err) {
    await unlink(tmp).catch(() => {});
    return { dropped: `cannot write ${tmp}: ${errnoOf(err) ?? String(err)}` };
  }
}
