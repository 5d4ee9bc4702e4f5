/** armor-agent's client commands: list, get, lookup, watch — each one request to a running agent. */
import * as v from "valibot";
import { AgentClient, callAgent, type ClientOptions } from "../client.ts";
import type { Container } from "../container.ts";
import { ArmorError } from "../errors.ts";
import { escapeJson, escapeText } from "../escape.ts";
import { layout } from "../layout.ts";
import { parseWith } from "../validate.ts";
import { GetResultSchema, ListResultSchema, LookupResultSchema, StatusResultSchema, WatchResultSchema, type Event } from "../wire/messages.ts";
import { formatContainer, formatEvent, formatTable } from "./format.ts";

/** Answers to the CLI can be large (a list of thousands of containers). */
const MAX_ANSWER_BYTES = 256 * 1024 * 1024;

/** Where output goes; injected so tests can read it. */
export type Print = (line: string) => void;

const connection = (socket: string, timeoutMs: number): ClientOptions => ({ socket, timeoutMs, maxFrameBytes: MAX_ANSWER_BYTES });

/** `armor-agent list`: every container the agent holds. */
export async function listCommand(socket: string, timeoutMs: number, json: boolean, print: Print): Promise<Container[]> {
  const result = parseWith(ListResultSchema, await callAgent(connection(socket, timeoutMs), { op: "list" }), "answer from agent", "E_PROTOCOL");
  print(json ? escapeJson(JSON.stringify(result.containers, null, 2)) : formatTable(result.containers));
  return result.containers;
}

/** `armor-agent get ID`: one container, or E_NOT_FOUND. */
export async function getCommand(socket: string, timeoutMs: number, id: string, json: boolean, print: Print): Promise<Container> {
  const raw = await callAgent(connection(socket, timeoutMs), { op: "get", container: id }).catch((err: unknown) => {
    if (err instanceof ArmorError && err.code === "E_NOT_FOUND") throw new ArmorError("E_NOT_FOUND", `the agent holds no container "${id}"`);
    throw err;
  });
  const { container } = parseWith(GetResultSchema, raw, "answer from agent", "E_PROTOCOL");
  print(json ? escapeJson(JSON.stringify(container, null, 2)) : formatContainer(container));
  return container;
}

const inodeArg = v.pipe(v.string(), v.regex(/^\d{1,16}$/, "must be a namespace inode number"), v.transform(Number));

/** `armor-agent lookup PIDNS MNTNS`: which container owns this namespace pair. */
export async function lookupCommand(socket: string, timeoutMs: number, pidns: string, mntns: string, json: boolean, print: Print): Promise<Container> {
  const pid = parseWith(inodeArg, pidns, "PIDNS", "E_USAGE");
  const mnt = parseWith(inodeArg, mntns, "MNTNS", "E_USAGE");
  const raw = await callAgent(connection(socket, timeoutMs), { op: "lookup", pidns: pid, mntns: mnt });
  const { container } = parseWith(LookupResultSchema, raw, "answer from agent", "E_PROTOCOL");
  if (!container) throw new ArmorError("E_NOT_FOUND", `no container owns pid namespace ${pid} with mount namespace ${mnt}`);
  print(json ? escapeJson(JSON.stringify(container, null, 2)) : formatContainer(container));
  return container;
}

/**
 * `armor-agent watch`: prints add/remove events until `signal` aborts. The agent going away ends
 * it with E_AGENT_UNREACHABLE (exit 4): a consumer must not take the end of the stream for quiet.
 */
export async function watchCommand(socket: string, timeoutMs: number, json: boolean, print: Print, signal?: AbortSignal): Promise<void> {
  const client = await AgentClient.connect(connection(socket, timeoutMs));
  const ended = new Promise<void>((resolve, reject) => {
    client.listen(
      (event: Event) => print(json ? escapeJson(JSON.stringify(event)) : formatEvent(event)),
      (err) => reject(err ?? new ArmorError("E_AGENT_UNREACHABLE", `the agent at ${socket} closed the watch stream`)),
    );
    signal?.addEventListener("abort", () => {
      resolve(); // first: closing reports the end of the stream, which is no failure here
      client.close();
    });
  });
  parseWith(WatchResultSchema, await client.request({ op: "watch" }), "answer from agent", "E_PROTOCOL");
  await ended;
}

/** `armor-agent status`: version, uptime, state, counts, bootstrap; with `ready`, E_NOT_READY while bootstrapping. */
export async function statusCommand(socket: string, timeoutMs: number, json: boolean, ready: boolean, print: Print): Promise<void> {
  const status = parseWith(StatusResultSchema, await callAgent(connection(socket, timeoutMs), { op: "status" }), "answer from agent", "E_PROTOCOL");
  if (json) print(escapeJson(JSON.stringify(status, null, 2)));
  else {
    const boot = status.bootstrap;
    print(
      [
        `agent:       armor-agent ${status.version}`,
        `state:       ${status.state}`,
        `socket:      ${status.socket}`,
        `uptime:      ${Math.round(status.uptimeMs / 1000)} s (since ${status.startedAt})`,
        `containers:  ${status.containers}`,
        `bootstrap:   mode ${boot.mode}, ${boot.completedBy ? `completed by ${boot.completedBy} with ${boot.containers} pre-existing containers in ${boot.durationMs} ms` : "in progress"}`,
        ...(boot.warning ? [`warning:     ${escapeText(boot.warning)}`] : []),
        `hook log:    ${layout(status.socket).hookLog} (armor-agent hook-log ID: what the hook did with a container)`,
        `errors:      ${status.lastErrors.length === 0 ? "none recently" : `last ${status.lastErrors.length}:`}`,
        ...status.lastErrors.map((e) => `  ${e.time}  ${e.code}  ${escapeText(e.message)}`),
      ].join("\n"),
    );
  }
  if (ready && status.state !== "ready") throw new ArmorError("E_NOT_READY", `agent is ${status.state}`);
}
