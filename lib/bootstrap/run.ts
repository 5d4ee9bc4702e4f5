/**
 * `armor-hook bootstrap`: the detached process the hook starts when the agent's
 * own container is created. It waits (bounded) for the agent's socket to answer,
 * enumerates the containers already running from the runtimes' state on disk,
 * and sends them to the agent as one pre-existing batch.
 */
import { AgentClient } from "../client.ts";
import { ArmorError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { enumerateContainers, type EnumerateDeps } from "./enumerate.ts";
import { sendBatch } from "./batch.ts";
import type { StateRoot } from "./state-roots.ts";

/** Options of one bootstrap run. */
export interface BootstrapOptions {
  socket: string;
  roots: readonly StateRoot[];
  /** Give up waiting for the agent after this long. */
  deadlineMs: number;
  /** Per-request deadline once connected. */
  timeoutMs: number;
  pollMs?: number;
}

/** Waits for the agent, then sends it every pre-existing container; throws E_AGENT_TIMEOUT past the deadline. */
export async function runBootstrap(options: BootstrapOptions, deps: EnumerateDeps & { log: Logger; sleep?: (ms: number) => Promise<void> }): Promise<number> {
  const { log } = deps;
  const sleep = deps.sleep ?? ((ms: number) => Bun.sleep(ms));
  const started = Date.now();
  log("info", "waiting for the agent", { socket: options.socket, deadlineMs: options.deadlineMs });
  let client: AgentClient | undefined;
  let lastError = "";
  while (!client) {
    try {
      const candidate = await AgentClient.connect({ socket: options.socket, timeoutMs: options.timeoutMs, maxFrameBytes: 1024 * 1024 });
      try {
        await candidate.request({ op: "ping" });
        client = candidate;
      } catch (err) {
        candidate.close();
        throw err;
      }
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
      if (Date.now() - started >= options.deadlineMs) {
        throw new ArmorError("E_AGENT_TIMEOUT", `agent did not answer within ${options.deadlineMs} ms (last: ${lastError})`);
      }
      // Short polls: the agent's time to ready is measured from its socket coming up.
      await sleep(options.pollMs ?? 20);
    }
  }
  try {
    log("info", "agent answers; enumerating runtime state", { waitedMs: Date.now() - started });
    const { containers, rootsRead } = await enumerateContainers(options.roots, deps, log);
    if (rootsRead === 0) log("warn", "no runtime state root could be read", { roots: options.roots.map((root) => root.path) });
    const result = await sendBatch(client, containers);
    log("info", "bootstrap batch sent", { ...result, tookMs: Date.now() - started });
    return result.sent;
  } finally {
    client.close();
  }
}
