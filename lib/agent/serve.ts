/** `armor-agent serve`: prepare the socket, serve the registry, clean up on SIGTERM/SIGINT. */
import { unlinkSync } from "node:fs";
import type { Logger } from "../log.ts";
import { Registry } from "../registry.ts";
import { serve, type ServerLimits } from "../server.ts";
import { prepareSocketPath, restrictSocket } from "./socket-path.ts";

/** Options of a serving agent. */
export interface ServeOptions {
  socket: string;
  version: string;
  log: Logger;
  limits?: Partial<ServerLimits>;
}

/** A running agent. */
export interface RunningAgent {
  registry: Registry;
  stop: () => void;
}

/** Starts serving; resolves once the socket accepts connections. */
export async function startAgent(options: ServeOptions): Promise<RunningAgent> {
  const { socket, log } = options;
  await prepareSocketPath(socket, log);
  const registry = new Registry();
  // Create the socket owner-only from the start: no window in which others could connect.
  const previousUmask = process.umask(0o177);
  let listener;
  try {
    listener = serve({
      socketPath: socket,
      registry,
      info: { version: options.version, startedAt: new Date() },
      log,
      ...(options.limits ? { limits: options.limits } : {}),
    });
  } finally {
    process.umask(previousUmask);
  }
  restrictSocket(socket);
  registry.subscribe(({ event, container }) => log("info", event === "add" ? "registered" : "unregistered", { id: container.id, pid: container.pid, source: container.source }));
  log("info", "serving", { socket, version: options.version });
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    listener.stop(true);
    try {
      unlinkSync(socket);
    } catch {
      // Already gone: nothing to clean.
    }
    log("info", "stopped", { socket });
  };
  return { registry, stop };
}
