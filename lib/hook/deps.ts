/** The hook's effects, passed in to runHook() (lib/hook/run.ts): tests pass fakes. */
import type { ClientOptions } from "../client.ts";
import type { ReadText } from "../oci/bundle.ts";
import type { StatIno } from "../proc/cgroup.ts";
import type { ReadLinkAsync } from "../proc/namespaces.ts";
import type { SpoolRecord } from "../spool-format.ts";
import type { RequestBody } from "../wire/messages.ts";
import type { LogSettings } from "./args.ts";
import type { SpoolResult } from "./spool.ts";

export interface HookDeps {
  argv: readonly string[];
  /** Reads the OCI state; gives up when `signal` (the hook's deadline) aborts. */
  readStdin: (signal: AbortSignal) => Promise<string>;
  readText: ReadText;
  readLink: ReadLinkAsync;
  /** stat(2)'s inode number: the container's cgroup id (lib/proc/cgroup.ts). */
  statIno: StatIno;
  /** One conversation with the agent (lib/client.ts callAgent): one request, its answer. */
  callAgent: (options: ClientOptions, body: RequestBody) => Promise<unknown>;
  /** Whether a bootstrap fork for this socket runs now (it holds the lock at `path`, layout(socket).bootstrapLock). */
  bootstrapRunning: (path: string) => boolean;
  /** Starts this binary again with `argv`, detached, with no inherited stdio. */
  spawnDetached: (argv: string[]) => void;
  version: string;
  /** Leaves an event the agent could not take in the spool directory. Absent: nothing is spooled. */
  spool?: (dir: string, record: SpoolRecord) => Promise<SpoolResult>;
  /** Whether a directory exists: the spool directory exists once the agent has started on this node. */
  dirExists?: (path: string) => Promise<boolean>;
  /** Microseconds since the epoch: orders spooled events. */
  nowMicros?: () => number;
  /** Appends one line to the hook's log itself (node:fs: slow to load). Absent: nothing is logged. */
  writeLog?: (settings: LogSettings, line: string) => Promise<void>;
  /** Milliseconds since the hook's process started (performance.now()). */
  elapsedMs?: () => number;
  now?: () => Date;
  pid?: number;
}

/** How the hook ends: an exit status, and at most one line for stderr or stdout. */
export interface HookOutcome {
  status: number;
  stderr?: string;
  stdout?: string;
}
