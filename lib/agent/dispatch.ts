/** Turns one validated request into one answer, against the registry. */
import { isAfterStart } from "../container.ts";
import { ArmorError } from "../errors.ts";
import type { Registry } from "../registry.ts";
import { errorResponse, okResponse, type Request, type Response } from "../wire/messages.ts";
import type { BootstrapTracker } from "./bootstrap.ts";
import type { RecordedError } from "./metrics.ts";

/** Facts about the running agent that `ping` and `status` report. */
export interface AgentInfo {
  version: string;
  startedAt: Date;
  socket?: string;
  /** Absent: the agent has no bootstrap to wait for and is always ready. */
  bootstrap?: BootstrapTracker;
  /** The most recent errors, for `status`. */
  lastErrors?: () => RecordedError[];
}

/**
 * Answers a request from the connection numbered `session`. `watch` answers here
 * too; the server then keeps the connection open and streams events. A
 * registration is answered only after the registry holds it.
 */
export function dispatch(request: Request, registry: Registry, info: AgentInfo, session = 0): Response {
  const state = info.bootstrap?.state ?? "ready";
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
      const { outcome, container, reason } = registry.register(request.container, request.source);
      if (isAfterStart(request.source)) info.bootstrap?.batchRegistered(session);
      if (outcome === "full") return errorResponse(request.id, "E_REGISTRY_FULL", reason ?? "the registry is full");
      return okResponse(request.id, { container: container ?? null, outcome });
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
    case "lookup":
      return okResponse(request.id, { container: registry.lookup(request.pidns, request.mntns) ?? null });
    case "watch":
      return okResponse(request.id, { watching: true });
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
