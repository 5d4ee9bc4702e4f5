/**
 * Enumerates the containers running on the host from the runtimes' state roots,
 * reading each one's pid, bundle, config.json and /proc/<pid>/ns exactly as the
 * live hook does.
 */
import type { ContainerInfo } from "../container.ts";
import { describeContainer } from "../describe.ts";
import { ArmorError, errnoOf } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ReadText } from "../oci/bundle.ts";
import type { ReadLink } from "../proc/namespaces.ts";
import { parseStartTime } from "../proc/start-time.ts";
import { parseStateFile, STATE_FILE, type StateEntry, type StateRoot } from "./state-roots.ts";

/** The file system, injected so tests can fake state roots. */
export interface EnumerateDeps {
  readDir: (path: string) => string[];
  readText: ReadText;
  readLink: ReadLink;
}

/** What an enumeration found. */
export interface Enumeration {
  containers: ContainerInfo[];
  /** How many roots could be listed; 0 means no runtime state was readable at all. */
  rootsRead: number;
}

const CONCURRENCY = 64;

/** Lists every live container under `roots`; unreadable or dead entries are logged and skipped. */
export async function enumerateContainers(roots: readonly StateRoot[], deps: EnumerateDeps, log: Logger): Promise<Enumeration> {
  const entries: StateEntry[] = [];
  let rootsRead = 0;
  for (const root of roots) {
    const names = listDir(root.path, deps, log);
    if (names === undefined) continue;
    rootsRead += 1;
    for (const name of names) entries.push(...(await readEntry(root, name, deps, log)));
  }
  const containers: ContainerInfo[] = [];
  for (let i = 0; i < entries.length; i += CONCURRENCY) {
    const described = await Promise.all(entries.slice(i, i + CONCURRENCY).map((entry) => describeLive(entry, deps, log)));
    for (const info of described) if (info) containers.push(info);
  }
  return { containers, rootsRead };
}

function listDir(path: string, deps: EnumerateDeps, log: Logger): string[] | undefined {
  try {
    return deps.readDir(path);
  } catch (err) {
    const errno = errnoOf(err);
    // ENOTDIR: a stray file beside the containers, not a root that failed.
    if (errno !== "ENOENT" && errno !== "ENOTDIR") log("warn", "cannot list runtime state root", { path, error: errno ?? String(err) });
    return undefined;
  }
}

/** One directory entry of a root: a container, or (runc format) a containerd namespace holding containers. */
async function readEntry(root: StateRoot, name: string, deps: EnumerateDeps, log: Logger, depth = 0): Promise<StateEntry[]> {
  const dir = `${root.path}/${name}`;
  const file = `${dir}/${STATE_FILE[root.format]}`;
  let text: string;
  try {
    text = await deps.readText(file);
  } catch (err) {
    const errno = errnoOf(err);
    if ((errno === "ENOENT" || errno === "ENOTDIR") && root.format === "runc" && depth === 0) {
      const inner = listDir(dir, deps, log) ?? [];
      const nested = await Promise.all(inner.map((sub) => readEntry({ ...root, path: dir }, sub, deps, log, 1)));
      return nested.flat();
    }
    if (errno !== "ENOENT" && errno !== "ENOTDIR") log("warn", "cannot read container state", { file, error: errno ?? String(err) });
    return [];
  }
  const entry = parseStateFile(root.format, name, text);
  if (typeof entry === "string") {
    // A container being created right now may have no complete state yet: its live hook covers it.
    log("warn", "skipping unreadable container state", { file, reason: entry });
    return [];
  }
  return [entry];
}

/** Describes a container whose process still runs (same start time), or returns undefined. */
async function describeLive(entry: StateEntry, deps: EnumerateDeps, log: Logger): Promise<ContainerInfo | undefined> {
  let stat: string;
  try {
    stat = await deps.readText(`/proc/${entry.pid}/stat`);
  } catch {
    log("debug", "skipping a stopped container", { id: entry.id, pid: entry.pid });
    return undefined;
  }
  const startTime = parseStartTime(stat);
  if (entry.startTime !== undefined && startTime !== undefined && startTime !== entry.startTime) {
    log("debug", "skipping a stopped container whose pid was reused", { id: entry.id, pid: entry.pid });
    return undefined;
  }
  const ref = { id: entry.id, pid: entry.pid, bundle: entry.bundle };
  try {
    return await describeContainer(ref, deps);
  } catch (err) {
    if (!(err instanceof ArmorError)) throw err;
    if (err.code === "E_BUNDLE") {
      // The process runs: hold it without AppArmor/pod details rather than miss it.
      log("warn", "registering a pre-existing container without its bundle's details", { id: entry.id, error: err.message });
      return describeContainer(ref, deps, { apparmorProfile: null, args: [], annotations: {} }).catch(() => undefined);
    }
    log("debug", "skipping a container that stopped during enumeration", { id: entry.id, error: err.message });
    return undefined;
  }
}
