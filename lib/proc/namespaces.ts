/** Namespace inode numbers of a process, from the `/proc/<pid>/ns/*` links ("pid:[4026532180]"). */
import { NAMESPACE_KINDS, type Namespaces } from "../container.ts";
import { ArmorError, errnoOf } from "../errors.ts";

/** Reads a symlink's target; injected so tests need no real process. */
export type ReadLink = (path: string) => string;

const LINK = /^[a-z_]+:\[(\d+)\]$/;

/**
 * Reads every namespace the kernel exposes for `pid`. A kind the kernel lacks (e.g. `time`
 * before 5.6) is left out; a process that is gone is an E_PROCESS_GONE error.
 */
export function readNamespaces(pid: number, readLink: ReadLink, procRoot = "/proc"): Namespaces {
  const namespaces: Namespaces = {};
  for (const kind of NAMESPACE_KINDS) {
    const path = `${procRoot}/${pid}/ns/${kind}`;
    let target: string;
    try {
      target = readLink(path);
    } catch (err) {
      const errno = errnoOf(err);
      if (errno === "ENOENT" && kind !== "pid" && kind !== "mnt") continue;
      if (errno === "ENOENT" || errno === "ESRCH") {
        throw new ArmorError("E_PROCESS_GONE", `process ${pid} no longer exists (${path}: ${errno})`, { cause: err });
      }
      throw new ArmorError("E_PROCESS_GONE", `cannot read ${path}: ${errno ?? String(err)}`, { cause: err });
    }
    const match = LINK.exec(target);
    if (!match?.[1]) throw new ArmorError("E_PROCESS_GONE", `${path}: unexpected link target "${target}"`);
    namespaces[kind] = Number(match[1]);
  }
  return namespaces;
}
