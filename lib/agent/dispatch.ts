/** Turns one validated request into one answer, against the registry. */
import { isAfterStart, type Container } from "../container.ts";
import { ArmorError } from "../errors.ts";
import type { Registry } from "../registry.ts";
import { errorResponse, okResponse, type Request, type Response } from "../wire/messages.ts";
import type { BootstrapTracker } from "./bootstrap.ts";
import type { RecordedError } from "./metrics.ts";
import type { SweepStatus } from "./sweep.ts";
import type { WatchHub, WatchPeer } from "./watch.ts";

/** What serves the consumers: watchers and gates, lookups by host pid, the stale-record sweep. */
export interface Consumers {
  hub: WatchHub;
  /** The pid and mnt namespace inodes of a pid, as the agent's /proc shows them; undefined when there is no such process. */
  namespacesOf: (pid: number) => { pid: number; mnt: number } | undefined;
  /** Keeps a looked-up record only while its process lives (the sweeper's check): false when it was just swept. */
  check: (container: Container) => boolean;
  sweep: () => SweepStatus | null;
}

/** An answer now, an answer once the gates have decided, or null: `watch` answered on the connection itself. */
export type Answer = Response | Promise<Response> | null;

/** Facts about the running agent that `ping` and `status` report. */
export interface AgentInfo {
  version: string;
  startedAt: Date;
  socket?: string;
  /** Absent: the agent has no bootstrap to wait for and is always ready. */
  bootstrap?: BootstrapTracker;
  /** The most recent errors, for `status`. */
  lastErrors?: () => RecordedError[];
  /** Absent: the server makes its own (lib/agent/server.ts). */
  consumers?: Consumers;
}

/**
 * Answers a request from the connection numbered `session` (`peer`: how to stream
 * to it). A registration is answered only after the registry holds it — and a live
 * one, while gates are connected, only once they have decided.
 */
export function dispatch(request: Request, registry: Registry, info: AgentInfo, session = 0, peer?: WatchPeer): Answer {
  const state = info.bootstrap?.state ?? "ready";
  const consumers = info.consumers;
  switch (request.op) {
    case "ping":
      return okResponse(request.id, {
        agent: "armor-agent",
        version: info.version,
        state,
        containers: registry.size,
        startedAt: info.startedAt.toISOString(),
      });
    case "status":
      return okResponse(request.id, {
        agent: "armor-agent",
        version: info.version,
        state,
        startedAt: info.startedAt.toISOString(),
        uptimeMs: Date.now() - info.startedAt.getTime(),
        socket: info.socket ?? "",
        containers: registry.size,
        bootstrap: info.bootstrap?.status() ?? { mode: "none", completedBy: "none", containers: 0, durationMs: 0, warning: null },
        lastErrors: info.lastErrors?.() ?? [],
        ...(consumers ? { gates: consumers.hub.status(), sweep: consumers.sweep() } : {}),
      });
    case "register": {
      // The hook has given up by its deadline (its fail policy decided): a late record would be a ghost.
      const now = Date.now();
      if (request.deadline !== undefined && now >= request.deadline) {
        return errorResponse(
          request.id,
          "E_DEADLINE",
          `register of ${request.container.id} arrived ${now - request.deadline} ms after its deadline; not applied`,
        );
      }
      const register = () => registry.register(request.container, request.source);
      const answer = (result: ReturnType<typeof register>, warning: string | undefined): Response => {
        if (result.outcome === "full") return errorResponse(request.id, "E_REGISTRY_FULL", result.reason ?? "the registry is full");
        return okResponse(request.id, { container: result.container ?? null, outcome: result.outcome, ...(warning === undefined ? {} : { warning }) });
      };
      if (request.source !== "hook" || !consumers) {
        const result = register();
        if (isAfterStart(request.source)) info.bootstrap?.batchRegistered(session);
        return answer(result, undefined);
      }
      // A live registration: while gates are connected, answered once they have decided (lib/agent/watch.ts).
      const { result, verdict } = consumers.hub.admit(register, request.deadline);
      if (!verdict) return answer(result, undefined);
      return verdict.then((decided) => ("refused" in decided ? errorResponse(request.id, "E_GATE_REFUSED", decided.refused) : answer(result, decided.warning)));
    }
    case "unregister":
      return okResponse(request.id, { removed: registry.unregister(request.container) !== undefined });
    case "list":
      return okResponse(request.id, { containers: registry.list() });
    case "get": {
      const container = registry.get(request.container);
      if (!container) return errorResponse(request.id, "E_NOT_FOUND", `no container "${request.container}"`);
      return okResponse(request.id, { container });
    }
    case "lookup": {
      let found: Container | undefined;
      if (request.cgroupId !== undefined) found = registry.lookupCgroup(request.cgroupId);
      else if (request.pid !== undefined) {
        const ns = consumers?.namespacesOf(request.pid);
        if (!ns) return errorResponse(request.id, "E_NOT_FOUND", `no process ${request.pid} (or its namespaces cannot be read)`);
        found = registry.lookup(ns.pid, ns.mnt);
      } else if (request.pidns !== undefined && request.mntns !== undefined) found = registry.lookup(request.pidns, request.mntns);
      // A record whose process died without a poststop is swept on the spot, not answered.
      if (found && consumers && !consumers.check(found)) found = undefined;
      return okResponse(request.id, { container: found ?? null });
    }
    case "watch":
      if (!consumers || !peer) return errorResponse(request.id, "E_INVALID_REQUEST", "watch is served on a socket connection");
      consumers.hub.watch(peer, request);
      return null;
    case "ack":
    case "nack":
      if (!consumers || !peer) return errorResponse(request.id, "E_INVALID_REQUEST", `${request.op} is served on a gate's connection`);
      return consumers.hub.decide(peer, request);
    case "bootstrap-begin":
      info.bootstrap?.batchBegin(session);
      return okResponse(request.id, { state: info.bootstrap?.state ?? "ready" });
    case "bootstrap-end":
      info.bootstrap?.batchEnd(session, request.count);
      return okResponse(request.id, { state: info.bootstrap?.state ?? "ready" });
    default: {
      const never: never = request;
      throw new ArmorError("E_INTERNAL", `unhandled op ${JSON.stringify(never)}`);
    }
  }
}
