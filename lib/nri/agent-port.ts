/** The plugin's AgentPort over the agent's socket: a connection per piece of work, each under the hook's deadline. */
import { sendBatch } from "../bootstrap/batch.ts";
import { AgentClient, callAgent } from "../client.ts";
import type { ContainerInfo } from "../container.ts";
import { ArmorError } from "../errors.ts";
import { AGENT_PING_MS, type AgentPort } from "./plugin.ts";

/** A batch of many records gets at least this long per answer. */
const BATCH_TIMEOUT_MS = 10_000;

export function socketAgentPort(socket: string, timeoutMs: number): AgentPort {
  return {
    async batch(records: readonly ContainerInfo[]): Promise<void> {
      const client = await AgentClient.connect({ socket, timeoutMs: Math.max(timeoutMs, BATCH_TIMEOUT_MS) });
      try {
        await sendBatch(client, records, "nri");
      } finally {
        client.close();
      }
    },
    async register(record: ContainerInfo): Promise<void> {
      await callAgent({ socket, timeoutMs }, { op: "register", source: "nri", container: record });
    },
    async unregister(id: string): Promise<void> {
      await callAgent({ socket, timeoutMs }, { op: "unregister", container: id });
    },
    async reachable(): Promise<boolean> {
      try {
        await callAgent({ socket, timeoutMs: Math.min(timeoutMs, AGENT_PING_MS) }, { op: "ping" });
        return true;
      } catch (err) {
        // An agent that answers, even with a refusal, is there; silence or garbage is not.
        return err instanceof ArmorError && err.code === "E_AGENT_REJECTED";
      }
    },
  };
}
