/**
 * `armor-hook bootstrap`: the detached process the hook starts when the agent's
 * own container is created. It waits (bounded) for the agent's socket to answer,
 * enumerates the containers already running from the runtimes' state on disk,
 * and sends them to the agent as one pre-existing batch.
 */
import { AgentClient } from "../client.ts";
import { ArmorError } from "../errors.ts";
import type { ContainerInfo } from "../container.ts";
import type { Logger } from "../log.ts";
import { parseWith } from "../validate.ts";
import { RegisterResultSchema } from "../wire/messages.ts";
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
  /** After the batch, enumerate once more this much later and send what the batch missed; 0 or absent: never. */
  settleMs?: number;
  /** The agent's own container, as the hook described it: registered first, whatever the agent's state. */
  agentContainer?: ContainerInfo;
}

/**
 * Waits for the agent, then sends it every pre-existing container, then (with `settleMs`)
 * the ones a second look finds that the first missed; throws E_AGENT_TIMEOUT past the deadline.
 */
export async function runBootstrap(options: BootstrapOptions, deps: EnumerateDeps & { log: Logger; sleep?: (ms: number) => Promise<void> }): Promise<number> {
  const { log } = deps;
  const sleep = deps.sleep ?? ((ms: number) => Bun.sleep(ms));
  const started = Date.now();
  log("info", "waiting for the agent", { socket: options.socket, deadlineMs: options.deadlineMs });
  const { client, state } = await connectWhenUp(options, log, sleep, started);
  let sent: Set<string>;
  try {
    if (options.agentContainer) {
      // The hook registered nothing for it: the agent's own container is registered once the agent is up.
      const own = options.agentContainer;
      const result = parseWith(
        RegisterResultSchema,
        await client.request({ op: "register", source: "hook", container: own }),
        "answer from agent",
        "E_PROTOCOL",
      );
      log("info", "registered the agent's own container", { id: own.id, outcome: result.outcome ?? null });
    }
    if (state === "ready") {
      // An agent that is ready wants no batch (it bootstraps otherwise, or already has).
      log("info", "the agent is already ready; no batch to send");
      return 0;
    }
    log("info", "agent answers; enumerating runtime state", { waitedMs: Date.now() - started });
    const { containers, rootsRead } = await enumerateContainers(options.roots, deps, log);
    if (rootsRead === 0) log("warn", "no runtime state root could be read", { roots: options.roots.map((root) => root.path) });
    const result = await sendBatch(client, containers);
    log("info", "bootstrap batch sent", { ...result, tookMs: Date.now() - started });
    sent = new Set(containers.map((container) => container.id));
  } finally {
    client.close();
  }
  if (options.settleMs) await settle(options, deps, sleep, sent);
  return sent.size;
}

/** Connects once the agent answers a ping; E_AGENT_TIMEOUT past the deadline. */
async function connectWhenUp(
  options: BootstrapOptions,
  log: Logger,
  sleep: (ms: number) => Promise<void>,
  started: number,
): Promise<{ client: AgentClient; state: unknown }> {
  let lastError = "";
  for (;;) {
    try {
      const candidate = await AgentClient.connect({ socket: options.socket, timeoutMs: options.timeoutMs, maxFrameBytes: 1024 * 1024 });
      try {
        const pong = await candidate.request({ op: "ping" });
        const state = typeof pong === "object" && pong !== null && "state" in pong ? pong.state : undefined;
        return { client: candidate, state };
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
}

/**
 * The settle pass (DEFAULT_SETTLE_MS): a container whose runtime had not yet written its
 * state when the batch was read is sent now, as a second, smaller batch. The first batch
 * has done the bootstrap's job, so a failure here is logged, not thrown.
 */
async function settle(
  options: BootstrapOptions,
  deps: EnumerateDeps & { log: Logger },
  sleep: (ms: number) => Promise<void>,
  sent: ReadonlySet<string>,
): Promise<void> {
  const { log } = deps;
  await sleep(options.settleMs ?? 0);
  try {
    const { containers } = await enumerateContainers(options.roots, deps, log);
    const missed = containers.filter((container) => !sent.has(container.id));
    if (missed.length === 0) return log("info", "settle pass: the batch missed nothing");
    const client = await AgentClient.connect({ socket: options.socket, timeoutMs: options.timeoutMs, maxFrameBytes: 1024 * 1024 });
    try {
      const result = await sendBatch(client, missed);
      log("warn", "settle pass: sent containers the batch missed", { ...result, ids: missed.map((container) => container.id) });
    } finally {
      client.close();
    }
  } catch (err) {
    log("warn", "settle pass failed", { error: err instanceof Error ? err.message : String(err) });
  }
}
