/**
 * A process's cgroup v2 identity: its path from /proc/<pid>/cgroup and the inode of
 * that directory under the cgroup2 mount, the id eBPF programs see
 * (bpf_get_current_cgroup_id()). One read and one stat, nothing else.
 */
import type { Cgroup } from "../container.ts";
import { MAX_STRING_LENGTH } from "../container-spec.ts";
import type { ReadText } from "../oci/bundle.ts";

/** The inode number of a path (stat(2), following links); injected so tests need no real cgroup. */
export type StatIno = (path: string) => number | Promise<number>;

/** Where the cgroup2 hierarchy is mounted: alone (unified hosts) or beside the v1 controllers (hybrid hosts, systemd's layout). */
export const CGROUP2_UNIFIED_MOUNT = "/sys/fs/cgroup";
export const CGROUP2_HYBRID_MOUNT = "/sys/fs/cgroup/unified";

/**
 * Parses /proc/<pid>/cgroup: the `0::PATH` line is the v2 path; any other line means v1
 * controllers are mounted too, so the v2 hierarchy is the hybrid layout's. Undefined
 * when there is no v2 line.
 */
export function parseCgroupFile(text: string): { path: string; mount: string } | undefined {
  let path: string | undefined;
  let v1 = false;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("0::")) path = line.slice(3);
    else v1 = true;
  }
  // A path past the record's string bound would make the agent refuse the whole record.
  if (path === undefined || !path.startsWith("/") || path.length > MAX_STRING_LENGTH) return undefined;
  return { path, mount: v1 ? CGROUP2_HYBRID_MOUNT : CGROUP2_UNIFIED_MOUNT };
}

/** The record's cgroup from the file's text and a stat of its directory. */
function cgroupOf(text: string, statIno: (path: string) => number): Cgroup | null {
  const parsed = parseCgroupFile(text);
  if (!parsed) return null;
  let id: number | null;
  try {
    const ino = statIno(parsed.path === "/" ? parsed.mount : `${parsed.mount}${parsed.path}`);
    id = Number.isSafeInteger(ino) && ino > 0 ? ino : null;
  } catch {
    id = null;
  }
  return { path: parsed.path, id };
}

/** Longest /proc/<pid>/cgroup read (a handful of short lines in practice). */
export const MAX_CGROUP_FILE_BYTES = 16 * 1024;

/** The same, synchronously, for the hook's fast path (lib/hook/fast.ts). */
export function readCgroupSync(pid: number, readFile: (path: string, maxBytes: number) => string, statIno: (path: string) => number): Cgroup | null {
  let text: string;
  try {
    text = readFile(`/proc/${pid}/cgroup`, MAX_CGROUP_FILE_BYTES);
  } catch {
    return null;
  }
  return cgroupOf(text, statIno);
}

/**
 * Reads the cgroup of `pid`. Null when the process shows no cgroup v2 path; `id` null
 * when the directory cannot be looked at (no cgroup2 mounted). A missing
 * /proc/<pid>/cgroup is left to the caller's namespace read to report.
 */
export async function readCgroup(pid: number, deps: { readText: ReadText; statIno: StatIno }, procRoot = "/proc"): Promise<Cgroup | null> {
  let text: string;
  try {
    text = await deps.readText(`${procRoot}/${pid}/cgroup`);
  } catch {
    return null;
  }
  const parsed = parseCgroupFile(text);
  if (!parsed) return null;
  const where = parsed.path === "/" ? parsed.mount : `${parsed.mount}${parsed.path}`;
  let ino: number | undefined;
  try {
    ino = await deps.statIno(where);
  } catch {
    ino = undefined;
  }
  return cgroupOf(text, () => {
    if (ino === undefined) throw new Error(`cannot stat ${where}`);
    return ino;
  });
}
