/**
 * Sends the containers that predate the agent as one batch on one connection:
 * `bootstrap-begin`, a `register` (source "bootstrap") per container, then
 * `bootstrap-end` with the count, so the agent knows when it has them all.
 */
import type { AgentClient } from "../client.ts";
import type { AfterStartSource, ContainerInfo } from "../container.ts";
import { parseWith } from "../validate.ts";
import { BootstrapEndResultSchema, RegisterResultSchema } from "../wire/messages.ts";

/** What the agent did with a batch. */
export interface BatchResult {
  sent: number;
  /** Refused as stale: a live poststop removed them, or a live hook holds newer data. */
  ignored: number;
  state: "bootstrapping" | "ready";
}

/** Sends one batch (source "bootstrap"; `armor-agent nri` sends "nri"); requests are pipelined, and every answer is checked. */
export async function sendBatch(client: AgentClient, containers: readonly ContainerInfo[], source: AfterStartSource = "bootstrap"): Promise<BatchResult> {
  await client.request({ op: "bootstrap-begin" });
  const answers = await Promise.all(containers.map((container) => client.request({ op: "register", source, container })));
  const ignored = answers.filter((answer) => parseWith(RegisterResultSchema, answer, "answer from agent", "E_PROTOCOL").outcome === "ignored").length;
  const end = parseWith(BootstrapEndResultSchema, await client.request({ op: "bootstrap-end", count: containers.length }), "answer from agent", "E_PROTOCOL");
  return { sent: containers.length, ignored, state: end.state };
}
