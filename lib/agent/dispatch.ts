/** Turns one validated request into one answer, against the registry. */
import { ArmorError } from "../errors.ts";
import type { Registry } from "../registry.ts";
import { errorResponse, okResponse, type Request, type Response } from "../wire/messages.ts";

/** Facts about the running agent that `ping` reports. */
export interface AgentInfo {
  version: string;
  startedAt: Date;
}

/**
 * Answers a request. `watch` answers here too; the server then keeps the
 * connection open and streams events. A registration is answered only after the
 * registry holds it.
 */
export function dispatch(request: Request, registry: Registry, info: AgentInfo): Response {
  switch (request.op) {
    case "ping":
      return okResponse(request.id, {
        agent: "armor-agent",
        version: info.version,
        containers: registry.size,
        startedAt: info.startedAt.toISOString(),
      });
    case "register": {
      const { container } = registry.register(request.container, request.source);
      return okResponse(request.id, { container });
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
    default: {
      const never: never = request;
      throw new ArmorError("E_INTERNAL", `unhandled op ${JSON.stringify(never)}`);
    }
  }
}
