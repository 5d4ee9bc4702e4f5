/**
 * Enumerates the containers running on the host from the runtimes' state roots,
 * reading each one's pid, bundle, config.json and /proc/<pid>/ns exactly as the
 * live hook does. In two steps, so a poller can describe only what is new: list
 * the live containers (state files and /proc/<pid>/stat), then describe one.
 */
import * as v from "valibot";
import { ContainerInfoSchema, type ContainerInfo } from "../container.ts";
import { describeContainer } from "../describe.ts";
import { ArmorError, errnoOf } from "../errors.ts";
import type { Logger } from "../log.ts";
import { MAX_CONFIG_BYTES, type ReadText } from "../oci/bundle.ts";
import type { StatIno } from "../proc/cgroup.ts";
import type { ReadLink } from "../proc/namespaces.ts";
import { parseStartTime } from "../proc/start-time.ts";
import { readFailure, safeReadText } from "../safe-read.ts";
import { describeIssue } from "../validate.ts";
import { parseStateFile, STATE_FILE, type StateEntry, type StateRoot } from "./state-roots.ts";

/**
 * How the agent, its reconcile, the bootstrap fork and the NRI plugin read state files, bundles'
 * config.json and /proc: lib/safe-read.ts (no final link, no FIFO, regular files only, bounded),
 * so a FIFO or a link to /dev/zero costs only its own container.
 */
export const readHostText: ReadText = safeReadText(MAX_CONFIG_BYTES);

/** The file system, injected so tests can fake state roots. */
export interface EnumerateDeps {
  readDir: (path: string) => string[];
  readText: ReadText;
  readLink: ReadLink;
  statIno: StatIno;
}

/** What an enumeration found. */
export interface Enumeration {
  containers: ContainerInfo[];
  /** How many roots could be listed; 0 means no runtime state was readable at all. */
  rootsRead: number;
  /** Running containers left out because reading their /proc/<pid>/ns was denied (the agent lacks CAP_SYS_PTRACE). */
  denied: number;
  /** Containers the state roots list, alive or not. */
  entries: number;
  /** Of those, how many have no process visible here (stopped, or in another PID namespace than the agent's). */
  unseen: number;
}

/** What describing a live entry came to when its /proc/<pid>/ns could not be read for want of privilege. */
const DENIED = Symbol("denied");

const CONCURRENCY = 64;

/** Lists and describes every live container under `roots`; unreadable or dead entries are logged and skipped. */
export async function enumerateContainers(roots: readonly StateRoot[], deps: EnumerateDeps, log: Logger): Promise<Enumeration> {
  const { entries, rootsRead } = await readStateRoots(roots, deps, log);
  let denied = 0;
  let unseen = 0;
  const containers = await inSlices(entries, async (entry) => {
    const live = await liveEntry(entry, deps, log);
    if (!live) unseen += 1;
    const described = live && (await describeOrDenied(live, deps, log));
    if (described !== DENIED) return described;
    denied += 1;
    return undefined;
  });
  return { containers, rootsRead, denied, entries: entries.length, unseen };
}

/**
 * The live containers under `roots`, without describing them: each entry's start
 * time is the one /proc shows, so (id, pid, startTime) tells a container from a
 * later one under the same id.
 */
export async function listLiveEntries(roots: readonly StateRoot[], deps: EnumerateDeps, log: Logger): Promise<StateEntry[]> {
  const { entries } = await readStateRoots(roots, deps, log);
  return inSlices(entries, (entry) => liveEntry(entry, deps, log));
}

/** Every container entry the roots' state files show, alive or not, and how many roots could be listed. */
async function readStateRoots(roots: readonly StateRoot[], deps: EnumerateDeps, log: Logger): Promise<{ entries: StateEntry[]; rootsRead: number }> {
  const entries: StateEntry[] = [];
  let rootsRead = 0;
  for (const root of roots) {
    const names = listDir(root.path, deps, log);
    if (names === undefined) continue;
    rootsRead += 1;
    for (const name of names) entries.push(...(await readEntry(root, name, deps, log)));
  }
  return { entries, rootsRead };
}

/** Maps `items` through `fn`, CONCURRENCY at a time, in order, dropping undefined results. */
async function inSlices<T, R>(items: readonly T[], fn: (item: T) => Promise<R | undefined>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += CONCURRENCY) {
    for (const result of await Promise.all(items.slice(i, i + CONCURRENCY).map(fn))) if (result !== undefined) results.push(result);
  }
  return results;
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
    if (errno !== "ENOENT" && errno !== "ENOTDIR") log("warn", "cannot read container state", { file, error: readFailure(err) });
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

/** The entry with its process's start time as /proc shows it, or undefined when the process is gone or its pid reused. */
async function liveEntry(entry: StateEntry, deps: EnumerateDeps, log: Logger): Promise<StateEntry | undefined> {
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
  return { ...entry, startTime: startTime ?? entry.startTime };
}

/**
 * Describes a live entry (namespaces, bundle), or returns undefined when its process stopped
 * meanwhile, or when /proc/<pid>/ns was denied (logged as a warning: the container runs unattributed).
 */
export async function describeEntry(entry: StateEntry, deps: EnumerateDeps, log: Logger): Promise<ContainerInfo | undefined> {
  const described = await describeOrDenied(entry, deps, log);
  return described === DENIED ? undefined : described;
}

async function describeOrDenied(entry: StateEntry, deps: EnumerateDeps, log: Logger): Promise<ContainerInfo | undefined | typeof DENIED> {
  const described = await describeOrDeniedRaw(entry, deps, log);
  return described === DENIED || described === undefined ? described : fitRecord(described, log);
}

/**
 * The record as the wire carries it (lib/container.ts): state roots and bundles hold what anyone
 * wrote, and one record the CLI cannot read would break `list` for every container. A record
 * whose bundle details do not fit is held without them; one whose id or bundle path does not fit
 * cannot be held at all, and is skipped with a warning.
 */
function fitRecord(info: ContainerInfo, log: Logger): ContainerInfo | undefined {
  if (v.safeParse(ContainerInfoSchema, info).success) return info;
  const bare = { ...info, apparmorProfile: null, pod: null, containerName: null, sandboxId: null, image: null };
  const parsed = v.safeParse(ContainerInfoSchema, bare);
  if (parsed.success) {
    log("warn", "registering a pre-existing container without its bundle's details: they do not fit the record", { id: info.id });
    return bare;
  }
  log("warn", "skipping a pre-existing container its record cannot hold", { id: info.id, error: describeIssue(parsed.issues[0]) });
  return undefined;
}

async function describeOrDeniedRaw(entry: StateEntry, deps: EnumerateDeps, log: Logger): Promise<ContainerInfo | undefined | typeof DENIED> {
  const ref = { id: entry.id, pid: entry.pid, bundle: entry.bundle };
  try {
    return await describeContainer(ref, deps);
  } catch (err) {
    if (!(err instanceof ArmorError)) throw err;
    const errno = errnoOf(err.cause);
    if (errno === "EACCES" || errno === "EPERM") {
      // Never a silent skip: a process that runs but cannot be read is a container nobody attributes.
      log("warn", "cannot read a running container's namespaces: permission denied (the agent needs CAP_SYS_PTRACE)", {
        id: entry.id,
        pid: entry.pid,
        error: err.message,
      });
      return DENIED;
    }
    if (err.code === "E_BUNDLE") {
      // The process runs: hold it without its bundle's details rather than miss it. runc's state
      // keeps the annotations as labels (an agent pod mounts the state roots, not the bundles):
      // they give its pod identity. config.json stays first: a label cannot tell a key's "=" apart.
      const fromState = Object.keys(entry.annotations ?? {}).length > 0;
      log(fromState ? "info" : "warn", "registering a pre-existing container without its bundle's details", {
        id: entry.id,
        error: err.message,
        annotations: fromState ? "from runc's state" : "none",
      });
      return describeContainer(ref, deps, { apparmorProfile: null, args: [], annotations: entry.annotations ?? {} }).catch(() => undefined);
    }
    log("debug", "skipping a container that stopped during enumeration", { id: entry.id, error: err.message });
    return undefined;
  }
}
