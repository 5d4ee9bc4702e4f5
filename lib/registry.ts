/**
 * The agent's registry of monitored containers: by id, and by the (pid, mnt)
 * namespace pair a security monitor sees on every event.
 */
import { isAfterStart, type Container, type ContainerInfo, type Source } from "./container.ts";

/** What took a container out of the registry: its poststop (or a client), the stale-record sweep, a gate's refusal, the polling baseline. */
export type RemovedBy = "unregister" | "sweep" | "gate" | "poll";

/**
 * A change to the registry, as `watch` streams it: `rev` numbers it (1, 2, 3… per
 * registry, no gaps); a remove says what removed the container.
 */
export type RegistryEvent = { event: "add"; rev: number; container: Container } | { event: "remove"; rev: number; source: RemovedBy; container: Container };

/** How many changes the registry keeps for `watch` consumers resuming with `since`. */
export const MAX_HISTORY = 10_000;
/** …and at most this many bytes of their records: resuming is a convenience, memory is not. */
export const MAX_HISTORY_BYTES = 64 * 1024 * 1024;

/** What a registration did; "full": not applied, the registry is at its bounds. */
export type RegisterOutcome = "added" | "updated" | "unchanged" | "ignored" | "full";

/** What the registry may hold: a node's containers with room to spare, within the DaemonSet's 512 Mi. */
export interface RegistryLimits {
  maxContainers: number;
  /** Sum of the records' sizes, each the UTF-8 length of its JSON. */
  maxBytes: number;
}

export const DEFAULT_REGISTRY_LIMITS: RegistryLimits = { maxContainers: 10_000, maxBytes: 32 * 1024 * 1024 };

/** How the registry is built: its clock, its bounds, and who hears of a registration it refused. */
export interface RegistryOptions {
  limits?: Partial<RegistryLimits>;
  /** Called with a one-line reason for every registration refused at the bounds (log line, metric). */
  refused?: (message: string) => void;
  /** Names this registry for watchers (default: 16 random hex digits). */
  epoch?: string;
  /** How many changes are kept for watchers resuming with `since` (default MAX_HISTORY), and their bytes (MAX_HISTORY_BYTES). */
  historySize?: number;
  historyBytes?: number;
}

const recordBytes = (info: ContainerInfo): number => Buffer.byteLength(JSON.stringify(info));

const nsKey = (pidns: number, mntns: number): string => `${pidns}:${mntns}`;

/** How many removed ids the registry remembers, and for how long, to refuse stale pre-existing adds. */
export const MAX_TOMBSTONES = 10_000;
export const TOMBSTONE_TTL_MS = 10 * 60_000;

/** Containers by id with a namespace-pair index; changes are announced to subscribers. */
export class Registry {
  readonly #byId = new Map<string, Container>();
  readonly #byNamespaces = new Map<string, string>();
  readonly #byCgroupId = new Map<number, string>();
  readonly #listeners = new Set<(event: RegistryEvent) => void>();
  /** Ids a live poststop removed, with when: a pre-existing add for them is stale. */
  readonly #tombstones = new Map<string, number>();
  readonly #now: () => Date;
  readonly limits: RegistryLimits;
  readonly #refused: (message: string) => void;
  /** Size of each held record, and their sum. */
  readonly #sizes = new Map<string, number>();
  #bytes = 0;
  /** The last changes, oldest first, consecutive revisions, within #historySize and #historyBytes. */
  readonly #history: Array<{ event: RegistryEvent; bytes: number }> = [];
  readonly #historySize: number;
  readonly #historyLimitBytes: number;
  #historyBytes = 0;
  #rev = 0;
  /** Names this registry (this agent process): a rev means nothing under another epoch. */
  readonly epoch: string;

  constructor(now: () => Date = () => new Date(), options: RegistryOptions = {}) {
    this.#now = now;
    this.limits = { ...DEFAULT_REGISTRY_LIMITS, ...options.limits };
    this.#refused = options.refused ?? (() => {});
    this.epoch = options.epoch ?? newEpoch();
    this.#historySize = options.historySize ?? MAX_HISTORY;
    this.#historyLimitBytes = options.historyBytes ?? MAX_HISTORY_BYTES;
  }

  /** Sum of the held records' sizes. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The revision of the last change: 0 before any. */
  get rev(): number {
    return this.#rev;
  }

  /** Everything held, at the revision it was held at. */
  snapshot(): { rev: number; containers: Container[] } {
    return { rev: this.#rev, containers: this.list() };
  }

  /**
   * The changes after `rev`, oldest first — or undefined when they are no longer all
   * kept (or `rev` is not one this registry reached): the caller needs a snapshot.
   */
  changesSince(rev: number): RegistryEvent[] | undefined {
    if (!Number.isInteger(rev) || rev < 0 || rev > this.#rev) return undefined;
    if (rev === this.#rev) return [];
    const oldestKept = this.#history[0]?.event.rev ?? this.#rev + 1;
    if (rev + 1 < oldestKept) return undefined;
    return this.#history.slice(rev + 1 - oldestKept).map((kept) => kept.event);
  }

  /**
   * Registers a container. The same id again is idempotent (same record, no event);
   * a new pid under a known id replaces it. A pre-existing (bootstrap) record never
   * overwrites one a live hook registered (the hook's data is newer), and never
   * resurrects an id a live poststop removed while the pre-existing batch was in flight.
   * Past the bounds (count or bytes) nothing changes: outcome "full", with the reason.
   */
  register(info: ContainerInfo, source: Source): { outcome: RegisterOutcome; container: Container | undefined; reason?: string } {
    const existing = this.#byId.get(info.id);
    if (isAfterStart(source)) {
      if (existing?.source === "hook") return { outcome: "ignored", container: existing };
      if (this.#removedRecently(info.id)) return { outcome: "ignored", container: undefined };
    } else {
      this.#tombstones.delete(info.id);
    }
    if (existing && existing.source === source && existing.pid === info.pid && sameInfo(existing, info)) {
      return { outcome: "unchanged", container: existing };
    }
    const size = recordBytes(info);
    const bytes = this.#bytes - (this.#sizes.get(info.id) ?? 0) + size;
    const count = this.#byId.size + (existing ? 0 : 1);
    if (count > this.limits.maxContainers || bytes > this.limits.maxBytes) {
      const reason =
        `the registry is full (${this.#byId.size} containers, ${this.#bytes} bytes; bounds ${this.limits.maxContainers} containers, ` +
        `${this.limits.maxBytes} bytes): ${source} registration of ${info.id} (${size} bytes) not applied`;
      this.#refused(reason);
      return { outcome: "full", container: undefined, reason };
    }
    this.#sizes.set(info.id, size);
    this.#bytes = bytes;
    const container: Container = {
      ...info,
      source,
      registeredAt: existing && existing.pid === info.pid ? existing.registeredAt : this.#now().toISOString(),
    };
    if (existing) this.#unindex(existing);
    // A new registration time moves the record to the end, so list() stays oldest first.
    if (existing && existing.registeredAt !== container.registeredAt) this.#byId.delete(container.id);
    this.#byId.set(container.id, container);
    this.#index(container);
    this.#emit({ event: "add", rev: this.#rev + 1, container }, size);
    return { outcome: existing ? "updated" : "added", container };
  }

  /**
   * Removes a container; an unknown id is not an error (returns undefined). Either
   * way the id is remembered, so a stale pre-existing add cannot bring it back.
   * `by` says what removed it (the remove event carries it as `source`).
   */
  unregister(id: string, by: RemovedBy = "unregister"): Container | undefined {
    this.#tombstones.delete(id);
    this.#tombstones.set(id, this.#now().getTime());
    if (this.#tombstones.size > MAX_TOMBSTONES) {
      const oldest = this.#tombstones.keys().next();
      if (!oldest.done) this.#tombstones.delete(oldest.value);
    }
    const existing = this.#byId.get(id);
    if (!existing) return undefined;
    this.#byId.delete(id);
    const size = this.#sizes.get(id) ?? 0;
    this.#bytes -= size;
    this.#sizes.delete(id);
    this.#unindex(existing);
    this.#emit({ event: "remove", rev: this.#rev + 1, source: by, container: existing }, size);
    return existing;
  }

  /** The container with this id, if held. */
  get(id: string): Container | undefined {
    return this.#byId.get(id);
  }

  /**
   * The container owning this (pid, mnt) namespace pair. When the kernel reuses an
   * inode pair, the latest registration owns it.
   */
  lookup(pidns: number, mntns: number): Container | undefined {
    const id = this.#byNamespaces.get(nsKey(pidns, mntns));
    return id === undefined ? undefined : this.#byId.get(id);
  }

  /** The container whose cgroup has this id (the inode eBPF programs see); the latest registration owns a reused one. */
  lookupCgroup(id: number): Container | undefined {
    const held = this.#byCgroupId.get(id);
    return held === undefined ? undefined : this.#byId.get(held);
  }

  /** Every container held, oldest registration first. */
  list(): Container[] {
    return [...this.#byId.values()];
  }

  /** How many containers are held. */
  get size(): number {
    return this.#byId.size;
  }

  /** Calls `listener` on every change until the returned function is called. */
  subscribe(listener: (event: RegistryEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #removedRecently(id: string): boolean {
    const removedAt = this.#tombstones.get(id);
    return removedAt !== undefined && this.#now().getTime() - removedAt < TOMBSTONE_TTL_MS;
  }

  #index(container: Container): void {
    const cgroupId = container.cgroup?.id;
    if (cgroupId !== undefined && cgroupId !== null) this.#byCgroupId.set(cgroupId, container.id);
    const { pid, mnt } = container.namespaces;
    if (pid !== undefined && mnt !== undefined) this.#byNamespaces.set(nsKey(pid, mnt), container.id);
  }

  #unindex(container: Container): void {
    const cgroupId = container.cgroup?.id;
    if (cgroupId !== undefined && cgroupId !== null && this.#byCgroupId.get(cgroupId) === container.id) this.#byCgroupId.delete(cgroupId);
    const { pid, mnt } = container.namespaces;
    if (pid === undefined || mnt === undefined) return;
    const key = nsKey(pid, mnt);
    // A later container may own the pair by now (inode reuse): leave its entry alone.
    if (this.#byNamespaces.get(key) === container.id) this.#byNamespaces.delete(key);
  }

  #emit(event: RegistryEvent, bytes: number): void {
    this.#rev = event.rev;
    this.#history.push({ event, bytes });
    this.#historyBytes += bytes;
    // shift() moves at most MAX_HISTORY references: microseconds, once per change.
    while (this.#history.length > this.#historySize || (this.#historyBytes > this.#historyLimitBytes && this.#history.length > 1)) {
      this.#historyBytes -= this.#history.shift()?.bytes ?? 0;
    }
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A failing subscriber must not break registration for everyone else.
      }
    }
  }
}

/** 16 random hex digits: two agent processes never share an epoch. */
function newEpoch(): string {
  return [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function sameInfo(a: Container, b: ContainerInfo): boolean {
  const { source: _s, registeredAt: _r, ...held } = a;
  return JSON.stringify(held) === JSON.stringify(b);
}
