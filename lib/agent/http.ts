/** `serve --metrics ADDR`: /metrics (Prometheus text), /healthz (serving), /readyz (bootstrap done). */
import type { Server } from "bun";
import { ArmorError } from "../errors.ts";

/** What the endpoints read. */
export interface HttpDeps {
  metrics: () => string;
  ready: () => boolean;
}

/** Parses `HOST:PORT` (IPv4 or a name; `[::1]:PORT` for IPv6); throws E_USAGE. */
export function parseAddress(addr: string): { hostname: string; port: number } {
  const match = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(addr);
  const port = Number(match?.[2]);
  if (!match?.[1] || port < 1 || port > 65_535) throw new ArmorError("E_USAGE", `--metrics must be HOST:PORT (e.g. 127.0.0.1:9469), got "${addr}"`);
  return { hostname: match[1].replace(/^\[|\]$/g, ""), port };
}

/** Starts the HTTP endpoints; the caller stops the returned server. */
export function startHttp(addr: string, deps: HttpDeps): Server<undefined> {
  const { hostname, port } = parseAddress(addr);
  try {
    return Bun.serve({
      hostname,
      port,
      fetch(request) {
        const path = new URL(request.url).pathname;
        if (request.method !== "GET") return new Response("method not allowed\n", { status: 405 });
        if (path === "/metrics") return new Response(deps.metrics(), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
        if (path === "/healthz") return new Response("ok\n");
        if (path === "/readyz") return deps.ready() ? new Response("ready\n") : new Response("bootstrapping\n", { status: 503 });
        return new Response("not found\n", { status: 404 });
      },
    });
  } catch (err) {
    throw new ArmorError("E_SOCKET", `cannot listen for metrics on ${addr}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
