/** An in-memory host for the enumeration and the poller: runtime state roots, bundles and /proc. */
import type { EnumerateDeps } from "../../lib/bootstrap/enumerate.ts";

const errno = (code: string, path: string): Error => Object.assign(new Error(`${code}: ${path}`), { code });

/** Fields 3..21 of a stat line, before the start time (field 22). */
const STAT_FILLER = "S 1 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0";

/** An in-memory host: files (directories follow from their paths), denied directories, processes. */
export class FakeHost {
  readonly files = new Map<string, string>();
  readonly denied = new Set<string>();
  readonly links = new Map<string, string>();
  readonly reads: string[] = [];
  readonly linkReads: string[] = [];
  /** Inode numbers stat() shows, by path (cgroup directories). */
  readonly inodes = new Map<string, number>();

  /** A running process with its start time and pid/mnt/net namespaces derived from the pid. */
  process(pid: number, startTime: number, comm = "sh"): this {
    this.files.set(`/proc/${pid}/stat`, `${pid} (${comm}) ${STAT_FILLER} ${startTime} 0 0\n`);
    this.links.set(`/proc/${pid}/ns/pid`, `pid:[${pid * 10 + 1}]`);
    this.links.set(`/proc/${pid}/ns/mnt`, `mnt:[${pid * 10 + 2}]`);
    this.links.set(`/proc/${pid}/ns/net`, `net:[${pid * 10 + 3}]`);
    return this;
  }

  /** The process's cgroup: a hybrid host's /proc/<pid>/cgroup and the unified directory's inode. */
  cgroup(pid: number, path: string, ino: number): this {
    this.files.set(`/proc/${pid}/cgroup`, `4:memory:${path}\n0::${path}\n`);
    this.inodes.set(`/sys/fs/cgroup/unified${path}`, ino);
    return this;
  }

  /** The process left /proc/<pid>/ns but its stat was read a moment before. */
  vanishingProcess(pid: number, startTime: number): this {
    this.files.set(`/proc/${pid}/stat`, `${pid} (sh) ${STAT_FILLER} ${startTime} 0 0\n`);
    return this;
  }

  bundle(path: string, config: object = { process: { args: ["sh"], apparmorProfile: "armor-default" } }): this {
    this.files.set(`${path}/config.json`, JSON.stringify(config));
    return this;
  }

  runc(dir: string, id: string, pid: number, startTime: number | undefined, bundle = `/bundles/${id}`, labels: string[] = []): this {
    const state = { id, init_process_pid: pid, init_process_start: startTime, config: { labels: [...labels, `bundle=${bundle}`] } };
    this.files.set(`${dir}/${id}/state.json`, JSON.stringify(state));
    return this;
  }

  crun(root: string, id: string, pid: number, startTime: number | undefined, bundle = `/bundles/${id}`): this {
    this.files.set(`${root}/${id}/status`, JSON.stringify({ pid, "process-start-time": startTime, bundle }));
    return this;
  }

  get deps(): EnumerateDeps {
    return {
      readDir: (path) => {
        if (this.denied.has(path)) throw errno("EACCES", path);
        if (this.files.has(path)) throw errno("ENOTDIR", path);
        const prefix = `${path}/`;
        const names = new Set<string>();
        for (const file of this.files.keys()) if (file.startsWith(prefix)) names.add(file.slice(prefix.length).split("/")[0] as string);
        if (names.size === 0) throw errno("ENOENT", path);
        return [...names].sort();
      },
      readText: async (path) => {
        this.reads.push(path);
        const text = this.files.get(path);
        if (text !== undefined) return text;
        if (this.files.has(path.slice(0, path.lastIndexOf("/")))) throw errno("ENOTDIR", path);
        throw errno("ENOENT", path);
      },
      statIno: (path) => {
        const ino = this.inodes.get(path);
        if (ino === undefined) throw errno("ENOENT", path);
        return ino;
      },
      readLink: (path) => {
        this.linkReads.push(path);
        const target = this.links.get(path);
        if (target === undefined) throw errno("ENOENT", path);
        return target;
      },
    };
  }
}
