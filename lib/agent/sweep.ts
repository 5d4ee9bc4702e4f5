/**
 * Stale records: a container whose process died without a poststop (a runtime
 * crash, a killed shim, a `runc run -d` container killed and never deleted) would
 * stay in the registry forever. The sweeper looks at each record's process every
 * few seconds and on lookup: when /proc/<pid>/ns no longer shows the recorded pid
 * namespace, or /proc/<pid>/stat no longer shows the start time the process had when
 * its record arrived (the process is gone, a zombie, or its pid was reused), the
 * record is removed with source `sweep`. A later poststop for it is harmless.
 *
 * Never the mount namespace: a container's own process may move itself into a new one
 * (unshare -m, with CAP_SYS_ADMIN: a privileged pod) and keeps running; taking that for
 * "gone" removed a running container's record, and its consumers' policy with it.
 *
 * Only records the agent could see when they arrived are swept: an agent without
 * the host's PID namespace (or a record of a process it cannot see) never takes
 * "not visible" for "gone".
 */
import { readFileSync } from "node:fs";
import type { Container } from "../container.ts";
import type { Logger } from "../log.ts";
import type { ReadLink } from "../proc/namespaces.ts";
import { liveStartTime } from "../proc/start-time.ts";
import type { Registry } from "../registry.ts";

/** Reads /proc/<pid>/stat; throws when the process is gone. */
export type ReadStat = (pid: number) => string;

/** The real /proc/<pid>/stat. */
export const readProcStat: ReadStat = (pid) => readFileSync(`/proc/${pid}/stat`, "latin1");

/** The initial PID namespace's inode number (the kernel's PROC_PID_INIT_INO): the host's. */
export const HOST_PID_NAMESPACE_INODE = 0xeffffffc;
/** How often every record's process is looked at. */
export const DEFAULT_SWEEP_INTERVAL_MS = 2000;

/** What `status` shows of the sweep. */
export interface SweepStatus {
  /** Whether the agent runs in the host's PID namespace; without it, records of host pids cannot be checked. */
  hostPidNamespace: boolean;
  intervalMs: number;
  /** Records whose process the agent saw when they arrived: these are checked. */
  checked: number;
  /** Records whose process the agent could not see: never swept. */
  unchecked: number;
  swept: number;
  warning: string | null;
}

/** Removes records whose process is gone. */
export class Sweeper {
  readonly #registry: Registry;
  readonly #log: Logger;
  readonly #readLink: ReadLink;
  readonly #readStat: ReadStat;
  readonly #intervalMs: number;
  /** Records whose process the agent saw in the recorded pid namespace: the start time it had then. */
  readonly #seen = new WeakMap<Container, number>();
  readonly #unsubscribe: () => void;
  readonly hostPidNamespace: boolean;
  #timer: ReturnType<typeof setInterval> | undefined;
  #swept = 0;

  constructor(options: { registry: Registry; log: Logger; readLink: ReadLink; readStat: ReadStat; intervalMs: number }) {
    this.#registry = options.registry;
    this.#log = options.log;
    this.#readLink = options.readLink;
    this.#readStat = options.readStat;
    this.#intervalMs = options.intervalMs;
    this.hostPidNamespace = this.#link("/proc/self/ns/pid") === `pid:[${HOST_PID_NAMESPACE_INODE}]`;
    this.#unsubscribe = this.#registry.subscribe((event) => {
      if (event.event === "add") this.#see(event.container);
    });
    for (const container of this.#registry.list()) this.#see(container);
  }

  /** Sweeps every `intervalMs` until stopped. */
  start(): void {
    if (!this.hostPidNamespace) {
      this.#log("warn", "the agent is not in the host's PID namespace: records whose process it cannot see are never swept");
    }
    this.#timer = setInterval(() => this.sweep(), this.#intervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#unsubscribe();
  }

  /** Looks at every record once; returns how many were removed. */
  sweep(): number {
    let removed = 0;
    for (const container of this.#registry.list()) if (!this.check(container)) removed += 1;
    return removed;
  }

  /** True when `container` is kept; false when its process is gone and the record was removed. */
  check(container: Container): boolean {
    const started = this.#seen.get(container);
    if (started === undefined || this.#startTime(container) === started) return true;
    if (this.#registry.get(container.id) !== container) return true;
    this.#registry.unregister(container.id, "sweep");
    this.#swept += 1;
    this.#log("warn", "removed a stale record: its process is gone and no poststop came", { id: container.id, pid: container.pid });
    return false;
  }

  /** The sweep's series in the Prometheus text format. */
  renderMetrics(): string {
    return [
      "# HELP armor_swept_total Stale records removed: their process died without a poststop (source sweep).",
      "# TYPE armor_swept_total counter",
      `armor_swept_total ${this.#swept}`,
      "# HELP armor_sweep_host_pid_namespace 1 when the agent shares the host's PID namespace (it can check records), else 0.",
      "# TYPE armor_sweep_host_pid_namespace gauge",
      `armor_sweep_host_pid_namespace ${this.hostPidNamespace ? 1 : 0}`,
      "",
    ].join("\n");
  }

  status(): SweepStatus {
    let checked = 0;
    const all = this.#registry.list();
    for (const container of all) if (this.#seen.has(container)) checked += 1;
    return {
      hostPidNamespace: this.hostPidNamespace,
      intervalMs: this.#intervalMs,
      checked,
      unchecked: all.length - checked,
      swept: this.#swept,
      warning: this.hostPidNamespace
        ? null
        : "the agent is not in the host's PID namespace: it cannot tell a container that died without a poststop, and does not sweep records of processes it cannot see",
    };
  }

  #see(container: Container): void {
    const started = this.#startTime(container);
    if (started !== undefined) this.#seen.set(container, started);
  }

  /** The start time of the record's process while it runs in the recorded pid namespace; else undefined. */
  #startTime(container: Container): number | undefined {
    const { pid } = container.namespaces;
    if (pid === undefined || this.#link(`/proc/${container.pid}/ns/pid`) !== `pid:[${pid}]`) return undefined;
    try {
      return liveStartTime(this.#readStat(container.pid));
    } catch {
      return undefined;
    }
  }

  #link(path: string): string | undefined {
    try {
      return this.#readLink(path);
    } catch {
      return undefined;
    }
  }
}
