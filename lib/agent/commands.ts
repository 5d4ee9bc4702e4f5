/** armor-agent's client commands: list, get, lookup, watch — each one request to a running agent. */
import * as v from "valibot";
import { callAgent, type ClientOptions } from "../client.ts";
import { parseSince, watchAgent } from "../consumer.ts";
import type { Container } from "../container.ts";
import { ArmorError } from "../errors.ts";
import { escapeJson, escapeText } from "../escape.ts";
import { layout } from "../layout.ts";
import { parseWith } from "../validate.ts";
import { GetResultSchema, ListResultSchema, LookupResultSchema, PROTOCOL_VERSION, StatusResultSchema, type RequestBody } from "../wire/messages.ts";
import { formatContainer, formatEvent, formatTable } from "./format.ts";
import { runGateCommand } from "./gate-exec.ts";

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

/** What `lookup` is asked: a namespace pair (the positional PIDNS MNTNS), `--pid`, or `--cgroup-id`, as typed. */
export interface LookupQuery {
  pidns?: string | undefined;
  mntns?: string | undefined;
  pid?: string | undefined;
  cgroupId?: string | undefined;
}

const pidArg = v.pipe(v.string(), v.regex(/^[1-9]\d{0,9}$/, "must be a process id"), v.transform(Number), v.maxValue(2 ** 31 - 1, "must be a process id"));

/** `armor-agent lookup PIDNS MNTNS | --pid PID | --cgroup-id N`: which container owns this namespace pair, host process or cgroup. */
export async function lookupCommand(socket: string, timeoutMs: number, query: LookupQuery, json: boolean, print: Print): Promise<Container> {
  const forms = [query.pidns !== undefined || query.mntns !== undefined, query.pid !== undefined, query.cgroupId !== undefined].filter(Boolean).length;
  if (forms !== 1) throw new ArmorError("E_USAGE", "lookup takes one of: PIDNS MNTNS, --pid PID, --cgroup-id N");
  let body: Extract<RequestBody, { op: "lookup" }>;
  let what: string;
  if (query.pid !== undefined) {
    const pid = parseWith(pidArg, query.pid, "--pid", "E_USAGE");
    body = { op: "lookup", pid };
    what = `process ${pid}`;
  } else if (query.cgroupId !== undefined) {
    const cgroupId = parseWith(inodeArg, query.cgroupId, "--cgroup-id", "E_USAGE");
    body = { op: "lookup", cgroupId };
    what = `cgroup id ${cgroupId}`;
  } else {
    const pidns = parseWith(inodeArg, query.pidns ?? "", "PIDNS", "E_USAGE");
    const mntns = parseWith(inodeArg, query.mntns ?? "", "MNTNS", "E_USAGE");
    body = { op: "lookup", pidns, mntns };
    what = `pid namespace ${pidns} with mount namespace ${mntns}`;
  }
  const raw = await callAgent(connection(socket, timeoutMs), body);
  const { container } = parseWith(LookupResultSchema, raw, "answer from agent", "E_PROTOCOL");
  if (!container) throw new ArmorError("E_NOT_FOUND", `no container owns ${what}`);
  print(json ? escapeJson(JSON.stringify(container, null, 2)) : formatContainer(container));
  return container;
}

/** Options of `armor-agent watch`. */
export interface WatchCommandOptions {
  socket: string;
  timeoutMs: number;
  json: boolean;
  /** `EPOCH:REV`: resume after this revision. */
  since?: string | undefined;
  /** Reconnect and resume when the agent goes away (always, for a gate); otherwise that ends the watch with E_AGENT_UNREACHABLE. */
  reconnect?: boolean;
  /** Be a gate: run `exec` once per gated add (lib/agent/gate-exec.ts). */
  gate?: { name: string; exec: string; timeoutMs: number } | undefined;
  signal?: AbortSignal;
  /** Where notes go (disconnects, gate decisions): stderr. */
  warn: Print;
}

/**
 * `armor-agent watch`: the snapshot (a table, or one JSON line), then a line per
 * change, until `signal` aborts. The agent going away ends it with E_AGENT_UNREACHABLE (exit 4:
 * a consumer must not take the end of the stream for quiet) — unless it reconnects and resumes.
 */
export async function watchCommand(options: WatchCommandOptions, print: Print): Promise<void> {
  const { json, warn } = options;
  const gate = options.gate;
  const watch = watchAgent(
    {
      socket: options.socket,
      timeoutMs: options.timeoutMs,
      reconnect: options.reconnect === true || gate !== undefined,
      maxFrameBytes: MAX_ANSWER_BYTES,
      ...(options.since === undefined ? {} : { since: parseSince(options.since) }),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(gate
        ? { gate: { name: gate.name, timeoutMs: gate.timeoutMs, decide: (container: Container) => runGateCommand(gate.exec, container, gate.timeoutMs) } }
        : {}),
    },
    {
      snapshot: (s) => {
        if (json)
          print(
            escapeJson(
              JSON.stringify({
                v: PROTOCOL_VERSION,
                event: "snapshot",
                epoch: s.epoch,
                rev: s.rev,
                ...(s.reset ? { reset: true } : {}),
                containers: s.containers,
              }),
            ),
          );
        else print(`${s.reset ? "reset: " : ""}snapshot at ${s.epoch}:${s.rev}\n${formatTable(s.containers)}`);
      },
      change: (event) => print(json ? escapeJson(JSON.stringify(event)) : formatEvent(event)),
      disconnected: (error, retryInMs) =>
        warn(
          `armor-agent: watch: ${error ? `${error.code}: ${escapeText(error.message)}` : "the agent closed the connection"}; reconnecting in ${retryInMs} ms`,
        ),
      decided: (container, answer) => {
        if (!answer.ack) warn(`armor-agent: gate ${gate?.name ?? ""}: refused ${container.id}: ${escapeText(answer.reason)}`);
      },
    },
  );
  await watch.done;
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
        ...gateLines(status),
        ...sweepLines(status),
        `errors:      ${status.lastErrors.length === 0 ? "none recently" : `last ${status.lastErrors.length}:`}`,
        ...status.lastErrors.map((e) => `  ${e.time}  ${e.code}  ${escapeText(e.message)}`),
      ].join("\n"),
    );
  }
  if (ready && status.state !== "ready") throw new ArmorError("E_NOT_READY", `agent is ${status.state}`);
}

type Status = v.InferOutput<typeof StatusResultSchema>;

function gateLines(status: Status): string[] {
  const gates = status.gates;
  if (!gates) return [];
  const head = `gates:       ${gates.gates.filter((g) => g.connected).length} connected, --gate-policy ${gates.policy}, ${gates.unconfirmed} containers started without every gate's answer`;
  return [
    head,
    ...gates.gates.map(
      (g) =>
        `  ${g.name}  ${g.connected ? `connected, timeout ${g.timeoutMs} ms` : "disconnected"}  pending ${g.pending}  acks ${g.acks}  nacks ${g.nacks}  timeouts ${g.timeouts}  disconnects ${g.disconnects}  latency mean ${g.latencyMs.mean ?? "-"} ms max ${g.latencyMs.max ?? "-"} ms`,
    ),
  ];
}

function sweepLines(status: Status): string[] {
  const sweep = status.sweep;
  if (!sweep) return [];
  return [
    `sweep:       every ${sweep.intervalMs} ms, ${sweep.swept} stale records removed, ${sweep.checked} checked, ${sweep.unchecked} it cannot see`,
    ...(sweep.warning ? [`warning:     ${sweep.warning}`] : []),
  ];
}
