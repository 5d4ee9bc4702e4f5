/** `armor-agent serve`: prepare the socket, serve the registry, bootstrap, clean up on SIGTERM/SIGINT. */
import { existsSync, readdirSync, readlinkSync, statSync, unlinkSync } from "node:fs";
import { describeEntry, enumerateContainers, listLiveEntries, readHostText } from "../bootstrap/enumerate.ts";
import { DEFAULT_STATE_ROOTS, type StateRoot } from "../bootstrap/state-roots.ts";
import type { Logger } from "../log.ts";
import { Registry } from "../registry.ts";
import { DEFAULT_LIMITS, serve, type ServerLimits } from "./server.ts";
import { BootstrapTracker, type BootstrapMode } from "./bootstrap.ts";
import type { AgentLock } from "./lock.ts";
import { prepareSocketPath, restrictSocket } from "./socket-path.ts";
import { Spool } from "./spool.ts";
import { layout } from "../layout.ts";
import { appendLogLine } from "../rotating-log.ts";
import { hookRecordHandler } from "./hook-records.ts";
import { DEFAULT_SETTLE_MS, scheduleSettlePass } from "./settle.ts";
import { connectionBudget, DESCRIPTOR_RESERVE, raiseFileLimit } from "./descriptors.ts";
import { ADMIT_FACTOR, DEFAULT_HTTP_LIMITS, startHttp } from "./http.ts";
import { Metrics } from "./metrics.ts";
import { sampleProcess } from "./process-metrics.ts";
import { createConsumers } from "./consumers.ts";
import { readProcStat } from "./sweep.ts";
import { DEFAULT_SWEEP_INTERVAL_MS } from "./sweep.ts";
import type { GatePolicy } from "./watch.ts";
import { startPolling } from "./poll.ts";
import { WarmPages } from "./warm-pages.ts";

/** Default wait for the hook's bootstrap batch before the agent enumerates runtime state itself. */
export const DEFAULT_BOOTSTRAP_WAIT_MS = 30_000;

/** Options of a serving agent. */
export interface ServeOptions {
  socket: string;
  version: string;
  log: Logger;
  bootstrap?: BootstrapMode;
  bootstrapWaitMs?: number;
  stateRoots?: readonly StateRoot[];
  limits?: Partial<ServerLimits>;
  /** Where hooks leave events the agent could not take (default: `spool` beside the socket). */
  spoolDir?: string;
  /** `HOST:PORT` for /metrics, /healthz and /readyz; off when absent. */
  metrics?: string;
  /** The polling baseline instead of events: list the state roots every `intervalMs`. */
  poll?: { intervalMs: number };
  /** What a gate that times out or leaves mid-decision means (default open). */
  gatePolicy?: GatePolicy;
  /** How often records' processes are checked (lib/agent/sweep.ts). */
  sweepIntervalMs?: number;
  /** With `reconcile`: look at runtime state once more this long after start, adding what is missing (lib/agent/settle.ts); 0: never. */
  settleMs?: number;
  /** The hook binary whose pages the agent keeps resident (lib/agent/warm-pages.ts); absent: none. */
  warmHook?: string;
}

/** A running agent. */
export interface RunningAgent {
  registry: Registry;
  bootstrap: BootstrapTracker;
  spool: Spool;
  /** The hook binary's pages held in memory (`lockedBytes` counts toward the agent's memory). */
  warmPages: WarmPages | undefined;
  stop: () => void;
}

/**
 * Starts serving; resolves once the socket accepts connections (bootstrap goes on
 * behind). The agent's lock comes first: a second agent reads and removes nothing.
 */
export async function startAgent(options: ServeOptions): Promise<RunningAgent> {
  const lock = await prepareSocketPath(options.socket, options.log);
  try {
    return await startLocked(options, lock);
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function startLocked(options: ServeOptions, lock: AgentLock): Promise<RunningAgent> {
  const { socket, log } = options;
  const files = raiseFileLimit();
  if (files.raisedFrom !== null) log("info", "raised the soft RLIMIT_NOFILE to the hard limit", { from: files.raisedFrom, to: files.soft });
  const caps = connectionBudget(files.soft, {
    socket: options.limits?.maxConnections ?? DEFAULT_LIMITS.maxConnections,
    hooks: options.limits?.hookConnections ?? DEFAULT_LIMITS.hookConnections,
    http: options.metrics ? DEFAULT_HTTP_LIMITS.maxConnections * ADMIT_FACTOR : 0,
  });
  if (caps.reduced) {
    log(
      "warn",
      `RLIMIT_NOFILE ${files.soft} leaves room for ${caps.socket} socket connections (${caps.hooks} kept for hooks) beside ${DESCRIPTOR_RESERVE} reserved descriptors`,
    );
  }
  const limits: Partial<ServerLimits> = { ...options.limits, maxConnections: caps.socket, hookConnections: caps.hooks };
  const metrics = new Metrics(undefined, { version: options.version, bun: Bun.version });
  const registry = new Registry(undefined, {
    refused: (message) => {
      log("warn", message);
      metrics.registryFull();
    },
  });
  // Before anything registers: the sweeper looks at each record's process as it arrives.
  const consumers = createConsumers({
    registry,
    log,
    gatePolicy: options.gatePolicy ?? "open",
    sweepIntervalMs: options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS,
    readLink: (path) => readlinkSync(path),
    readStat: readProcStat,
  });
  registry.subscribe(({ event, container }) => metrics.registryChange(event, container.source));
  // Events hooks spooled while no agent answered come first: the agent is not
  // serving (so not ready) before they are in the registry.
  const spool = new Spool({
    dir: options.spoolDir ?? layout(socket).spool,
    registry,
    log,
    // A spooled event is a hook call the agent never confirmed; its duration is not known.
    observe: (record) => metrics.hookCall(record.op === "register" ? "createRuntime" : "poststop", "unconfirmed", null),
  });
  spool.prepare();
  const replayed = await spool.replay();
  if (replayed.registered + replayed.removed + replayed.skipped + replayed.bad > 0) log("info", "replayed the spool", { ...replayed });
  const roots = options.stateRoots ?? DEFAULT_STATE_ROOTS;
  const hostFs = {
    readDir: (path: string) => readdirSync(path),
    readText: readHostText,
    readLink: (path: string) => readlinkSync(path),
    statIno: (path: string) => statSync(path).ino,
  };
  const bootstrap = new BootstrapTracker({
    mode: options.bootstrap ?? "none",
    deadlineMs: options.bootstrapWaitMs ?? DEFAULT_BOOTSTRAP_WAIT_MS,
    log,
    reconcile: async () => {
      const { containers, rootsRead, denied, entries, unseen } = await enumerateContainers(roots, hostFs, log);
      const where = roots.map((root) => root.path).join(", ");
      if (rootsRead === 0) {
        // On the host (--reconcile), a node where no state root exists yet has run no container:
        // that is a read. In the agent's pod (--bootstrap hook) a missing root is a missing mount.
        const noneExists = roots.every((root) => !existsSync(root.path));
        if (options.bootstrap === "reconcile" && noneExists) {
          log("info", "no runtime state root exists yet: no container has run on this node", { roots: where });
          return 0;
        }
        return { unread: `no runtime state root is readable here (${where})` };
      }
      // Every container the runtime lists, and not one process to be seen: this agent is not in the host's PID namespace.
      if (entries > 0 && unseen === entries) {
        return {
          unread: `runtime state lists ${entries} containers but none of their processes is visible here: the agent needs the host's PID namespace (hostPID)`,
        };
      }
      for (const container of containers) registry.register(container, "bootstrap");
      if (denied === 0) return containers.length;
      metrics.procDenied(denied);
      return {
        containers: containers.length,
        missed: `${denied} running containers could not be read (/proc/<pid>/ns denied: the agent needs CAP_SYS_PTRACE)`,
      };
    },
  });
  // Before the socket: a bad --metrics address fails the start with nothing left behind.
  const warmPages = options.warmHook === undefined ? undefined : new WarmPages({ binary: options.warmHook, log });
  const http = options.metrics
    ? startHttp(
        options.metrics,
        {
          ready: () => bootstrap.state === "ready",
          metrics: () => {
            const status = bootstrap.status();
            const agent = metrics.render({
              containers: registry.size,
              registryBytes: registry.bytes,
              ready: status.state === "ready",
              bootstrapDurationSeconds: status.durationMs === null ? null : status.durationMs / 1000,
              spoolDepth: spool.depth(),
              hookPagesLockedBytes: warmPages?.lockedBytes ?? 0,
              bootstrapIncomplete: bootstrap.incomplete,
              process: sampleProcess(),
            });
            return agent + consumers.renderMetrics();
          },
        },
        { maxConnections: Math.max(1, Math.floor(caps.http / ADMIT_FACTOR)) },
      )
    : undefined;
  if (options.metrics) log("info", "metrics endpoint up", { address: options.metrics });
  // Create the socket owner-only from the start: no window in which others could connect.
  const previousUmask = process.umask(0o177);
  let listener;
  try {
    listener = serve({
      socketPath: socket,
      registry,
      info: { version: options.version, startedAt: new Date(), socket, bootstrap, lastErrors: () => metrics.lastErrors(), consumers },
      log,
      observer: metrics,
      // The one place a hook's success record is handled: appended to the hook's log.
      hookRecord: hookRecordHandler({
        path: layout(socket).hookLog,
        append: appendLogLine,
        log,
        observe: (record) => metrics.hookCall(record.stage ?? "createRuntime", record.result, record.ms / 1000),
      }),
      limits,
    });
  } finally {
    process.umask(previousUmask);
  }
  restrictSocket(socket);
  registry.subscribe(({ event, container }) =>
    log("info", event === "add" ? "registered" : "unregistered", { id: container.id, pid: container.pid, source: container.source }),
  );
  log("info", "serving", {
    socket,
    version: options.version,
    bootstrap: options.bootstrap ?? "none",
    mode: options.poll ? `poll every ${options.poll.intervalMs} ms` : "events",
  });
  bootstrap.start();
  consumers.start();
  spool.startSweeping();
  // Behind the socket: hooks are served while their pages are learnt and locked.
  void warmPages?.start();
  const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
  const settle =
    options.bootstrap === "reconcile" && !options.poll && settleMs > 0
      ? scheduleSettlePass(
          registry,
          { list: () => listLiveEntries(roots, hostFs, log), describe: (entry) => describeEntry(entry, hostFs, log) },
          { delayMs: settleMs, ready: () => bootstrap.whenReady(), log, found: (count) => metrics.settleFound(count) },
        )
      : undefined;
  const poller = options.poll
    ? startPolling(
        registry,
        { list: () => listLiveEntries(roots, hostFs, log), describe: (entry) => describeEntry(entry, hostFs, log) },
        options.poll.intervalMs,
        log,
      )
    : undefined;
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    bootstrap.stop();
    consumers.stop();
    settle?.stop();
    poller?.stop();
    spool.stop();
    warmPages?.stop();
    http?.stop();
    listener.stop(true);
    try {
      unlinkSync(socket);
    } catch {
      // Already gone: nothing to clean.
    }
    log("info", "stopped", { socket });
    lock.release();
  };
  return { registry, bootstrap, spool, warmPages, stop };
}
