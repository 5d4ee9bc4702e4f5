/**
 * The agent's bootstrap state: `bootstrapping` until the containers that predate
 * it are known, then `ready`. Pre-existing containers come from the hook's
 * detached fork (a batch over the socket) or from the agent's own enumeration of
 * runtime state (`--reconcile`). A batch that never comes, or dies half-way, falls
 * back to its own enumeration. The agent is never `ready` without having read what
 * runs: while no runtime state root is readable, or no container's process is
 * visible (an agent pod without the host PID namespace), it stays `bootstrapping`,
 * says why in `status`, and looks again every UNREAD_RETRY_MS.
 */
import { withDeadline } from "../deadline.ts";
import type { Logger } from "../log.ts";

export type AgentState = "bootstrapping" | "ready";
/** none: ready at once; hook: wait for the fork's batch; reconcile: enumerate runtime state itself. */
export type BootstrapMode = "none" | "hook" | "reconcile";

/** What `status` reports of the bootstrap. */
export interface BootstrapStatus {
  state: AgentState;
  mode: BootstrapMode;
  /** What ended it: the fork's batch, the agent's own enumeration, or nothing to wait for. */
  completedBy: "batch" | "reconcile" | "none" | null;
  containers: number;
  startedAt: string;
  readyAt: string | null;
  durationMs: number | null;
  warning: string | null;
}

/** A batch that makes no progress for this long is treated as dead, whatever its connection does. */
export const BATCH_STALL_MS = 15_000;
/** An enumeration of runtime state that takes longer than this is abandoned (a hung file system). */
export const RECONCILE_TIMEOUT_MS = 60_000;

/** How long after an enumeration that read nothing the agent tries again (it stays bootstrapping meanwhile). */
export const UNREAD_RETRY_MS = 5_000;

/**
 * The agent's own enumeration: registers what it finds and returns how many, with a warning when
 * it knows it missed some (their /proc/<pid>/ns denied); `{unread}` when it read nothing that
 * tells what runs (no runtime state root readable, or no container's process visible here).
 */
export type Reconcile = () => Promise<number | { containers: number; missed: string } | { unread: string }>;

interface Batch {
  session: number;
  received: number;
}

/** Tracks the bootstrap and moves the agent to `ready` exactly once. */
export class BootstrapTracker {
  readonly #mode: BootstrapMode;
  readonly #deadlineMs: number;
  readonly #reconcile: Reconcile;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #stallMs: number;
  readonly #reconcileTimeoutMs: number;
  readonly #waiters: Array<() => void> = [];
  #state: AgentState = "bootstrapping";
  #startedAt = 0;
  #readyAt: number | null = null;
  #completedBy: BootstrapStatus["completedBy"] = null;
  #containers = 0;
  #warning: string | null = null;
  #incomplete = false;
  #batch: Batch | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stall: ReturnType<typeof setTimeout> | undefined;
  #fallingBack = false;
  #retry: ReturnType<typeof setTimeout> | undefined;
  readonly #retryMs: number;
  #unreadLogged = false;

  constructor(options: {
    mode: BootstrapMode;
    deadlineMs: number;
    reconcile: Reconcile;
    log: Logger;
    now?: () => number;
    stallMs?: number;
    reconcileTimeoutMs?: number;
    retryMs?: number;
  }) {
    this.#retryMs = options.retryMs ?? UNREAD_RETRY_MS;
    this.#stallMs = options.stallMs ?? BATCH_STALL_MS;
    this.#reconcileTimeoutMs = options.reconcileTimeoutMs ?? RECONCILE_TIMEOUT_MS;
    this.#mode = options.mode;
    this.#deadlineMs = options.deadlineMs;
    this.#reconcile = options.reconcile;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
  }

  /** Starts the bootstrap once the socket accepts connections. */
  start(): void {
    this.#startedAt = this.#now();
    if (this.#mode === "none") return this.#ready("none", 0, null);
    if (this.#mode === "reconcile") return void this.#fallback(null);
    this.#log("info", "waiting for the pre-existing containers from the hook's bootstrap", { deadlineMs: this.#deadlineMs });
    this.#timer = setTimeout(() => this.#fallback(`no bootstrap batch arrived within ${this.#deadlineMs} ms`), this.#deadlineMs);
  }

  /** A client announced a batch of pre-existing containers. */
  batchBegin(session: number): void {
    if (this.#batch && this.#batch.session !== session) this.#log("warn", "a second bootstrap batch began; following the newer one");
    this.#batch = { session, received: 0 };
    // From here the batch's end, its connection closing, or its stalling decides;
    // a long batch that keeps sending is not cut short.
    clearTimeout(this.#timer);
    this.#armStall(session);
  }

  /** A pre-existing container of the batch on `session` reached the registry. */
  batchRegistered(session: number): void {
    if (this.#batch?.session !== session) return;
    this.#batch.received += 1;
    this.#armStall(session);
  }

  /** The batch on `session` ended, announcing `count` containers. */
  batchEnd(session: number, count: number): void {
    if (this.#batch && this.#batch.session !== session) {
      // A stray end must not discard another connection's batch in flight.
      this.#log("warn", "ignoring a bootstrap-end from a connection that began no batch", { session });
      return;
    }
    const received = this.#batch?.received ?? 0;
    this.#batch = undefined;
    clearTimeout(this.#stall);
    const warning = received === count ? null : `bootstrap batch announced ${count} containers but sent ${received}`;
    if (warning) this.#log("warn", warning);
    if (warning && this.#state === "bootstrapping") this.#incomplete = true;
    if (this.#state === "bootstrapping") this.#ready("batch", received, warning);
  }

  /** A connection closed: if it carried an unfinished batch, the batch died. */
  sessionClosed(session: number): void {
    if (this.#batch?.session !== session) return;
    const received = this.#batch.received;
    this.#batch = undefined;
    clearTimeout(this.#stall);
    if (this.#state === "bootstrapping") void this.#fallback(`bootstrap batch connection closed after ${received} containers, before its end`);
  }

  #armStall(session: number): void {
    clearTimeout(this.#stall);
    this.#stall = setTimeout(() => {
      if (this.#batch?.session !== session) return;
      const received = this.#batch.received;
      this.#batch = undefined;
      if (this.#state === "bootstrapping") void this.#fallback(`bootstrap batch stalled for ${this.#stallMs} ms after ${received} containers`);
    }, this.#stallMs);
  }

  get state(): AgentState {
    return this.#state;
  }

  /** Resolves once the agent is ready. */
  whenReady(): Promise<void> {
    return this.#state === "ready" ? Promise.resolve() : new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** The bootstrap as `status` shows it. */
  status(): BootstrapStatus {
    return {
      state: this.#state,
      mode: this.#mode,
      completedBy: this.#completedBy,
      containers: this.#containers,
      startedAt: new Date(this.#startedAt).toISOString(),
      readyAt: this.#readyAt === null ? null : new Date(this.#readyAt).toISOString(),
      durationMs: this.#readyAt === null ? null : this.#readyAt - this.#startedAt,
      warning: this.#warning,
    };
  }

  /** Stops the deadline timer (agent shutting down). */
  stop(): void {
    clearTimeout(this.#timer);
    clearTimeout(this.#stall);
    clearTimeout(this.#retry);
  }

  async #fallback(reason: string | null): Promise<void> {
    if (this.#state === "ready" || this.#fallingBack) return;
    this.#fallingBack = true;
    clearTimeout(this.#timer);
    if (reason) this.#log("warn", `${reason}; enumerating runtime state itself`);
    let found: Awaited<ReturnType<Reconcile>>;
    try {
      const ms = this.#reconcileTimeoutMs;
      found = await withDeadline(this.#reconcile(), ms, () => new Error(`enumeration did not finish within ${ms} ms`));
    } catch (err) {
      found = { unread: `enumerating runtime state failed: ${err instanceof Error ? err.message : String(err)}` };
    }
    this.#fallingBack = false;
    // A batch may have ended while the enumeration ran.
    if (this.state === "ready") return;
    if (typeof found === "object" && "unread" in found) {
      // Never ready without having read what runs: ready would claim containers are held that
      // nobody sent. Stay bootstrapping, say why, and look again (a batch may still come).
      this.#warning = `${reason ? `${reason}; ` : ""}${found.unread}: not ready until runtime state is read (retrying every ${this.#retryMs} ms)`;
      this.#log(this.#unreadLogged ? "debug" : "error", this.#warning);
      this.#unreadLogged = true;
      this.#retry = setTimeout(() => void this.#fallback(reason), this.#retryMs);
      return;
    }
    if (typeof found === "number") return this.#ready("reconcile", found, reason);
    const warning = [reason, `${found.missed}: ready without them`].filter((part) => part !== null).join("; ");
    this.#log("warn", warning);
    this.#incomplete = true;
    this.#ready("reconcile", found.containers, warning);
  }

  /**
   * The bootstrap ended without (all) the containers that predate the agent: no runtime state
   * was readable, the batch was short, or some could not be read. They run unattributed.
   */
  get incomplete(): boolean {
    return this.#incomplete;
  }

  #ready(by: NonNullable<BootstrapStatus["completedBy"]>, containers: number, warning: string | null): void {
    clearTimeout(this.#timer);
    clearTimeout(this.#stall);
    clearTimeout(this.#retry);
    this.#state = "ready";
    this.#readyAt = this.#now();
    this.#completedBy = by;
    this.#containers = containers;
    this.#warning = warning;
    this.#log("info", "ready", { completedBy: by, containers, durationMs: this.#readyAt - this.#startedAt });
    for (const resolve of this.#waiters.splice(0)) resolve();
  }
}
