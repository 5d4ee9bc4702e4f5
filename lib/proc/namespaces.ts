/** Namespace inode numbers of a process, from the `/proc/<pid>/ns/*` links ("pid:[4026532180]"). */
import { ArmorError, errnoOf } from "../errors.ts";

/** Namespace kinds the hook reads from /proc/<pid>/ns, in a stable order (lib/container.ts's record has one field each). */
export const NAMESPACE_KINDS = ["pid", "mnt", "net", "uts", "ipc", "cgroup", "user", "time"] as const;
export type NamespaceKind = (typeof NAMESPACE_KINDS)[number];
/** Inode number per namespace kind (lib/container.ts's NamespacesSchema checks the same shape). */
export type NamespaceInodes = Partial<Record<NamespaceKind, number>>;

/** Reads a symlink's target; injected so tests need no real process. */
export type ReadLink = (path: string) => string;
/** A ReadLink that may answer later, like statNamespaceLink(). */
export type ReadLinkAsync = (path: string) => string | Promise<string>;

const LINK = /^[a-z_]+:\[(\d+)\]$/;

/**
 * Reads every namespace the kernel exposes for `pid`. A kind the kernel lacks (e.g. `time`
 * before 5.6) is left out; a process that is gone is an E_PROCESS_GONE error.
 */
export function readNamespaces(pid: number, readLink: ReadLink, procRoot = "/proc"): NamespaceInodes {
  const namespaces: NamespaceInodes = {};
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

/**
 * Reads every namespace link of `pid` at once with a reader that may be asynchronous, and
 * returns a ReadLink that replays what it got (targets and errors alike) to readNamespaces().
 */
export async function prefetchLinks(pid: number, readLink: ReadLinkAsync, procRoot = "/proc"): Promise<ReadLink> {
  type Read = { target: string } | { error: unknown };
  const read = async (path: string): Promise<[string, Read]> => {
    try {
      return [path, { target: await readLink(path) }];
    } catch (error) {
      return [path, { error }];
    }
  };
  const links = new Map(await Promise.all(NAMESPACE_KINDS.map((kind) => read(`${procRoot}/${pid}/ns/${kind}`))));
  return (path) => {
    const link = links.get(path) ?? { error: new ArmorError("E_INTERNAL", `${path} was not read ahead`) };
    if ("error" in link) throw link.error;
    return link.target;
  };
}

/**
 * A namespace link's target ("pid:[4026531836]") through stat(), which follows the link: the
 * namespace's inode is the number in brackets. Bun.file().stat() runs on the thread pool the
 * hook starts for stdin anyway; node:fs's readlinkSync would add ~5 ms of start-up for loading node:fs.
 */
export async function statNamespaceLink(path: string): Promise<string> {
  const { ino } = await Bun.file(path).stat();
  return `${path.slice(path.lastIndexOf("/") + 1)}:[${ino}]`;
}
