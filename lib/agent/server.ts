/**
 * Agent side of the socket: one frame decoder per connection, one answer per
 * request, bounded frames, bounded connections, and deadlines for clients that
 * go quiet or trickle. Output waits in per-connection queues under one shared
 * budget (lib/agent/outbox.ts); a client that does not read is dropped, and
 * nobody else notices. Hooks keep a share of the connection slots.
 */
import type { DropReason } from "./drop-reason.ts";
import type { Socket, UnixSocketListener } from "bun";
import { defaultConsumers } from "./consumers.ts";
import { dispatch, type AgentInfo } from "./dispatch.ts";
import { Outbox, OutputBudget } from "./outbox.ts";
import { CLIENT_ERROR_CODES } from "../errors.ts";
import type { WatchPeer } from "./watch.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../registry.ts";
import { describeIssue } from "../validate.ts";
import { encodeFrame, FrameDecoder, MAX_FRAME_BYTES } from "../wire/frame.ts";
import { errorResponse, okResponse, PROTOCOL_VERSION, RequestSchema, type Request, type Response } from "../wire/messages.ts";
import type { Container } from "../container.ts";
import type { AnsweredHookCall, HookRecordHandler } from "./hook-records.ts";
import * as v from "valibot";

/** Limits the server enforces on every client. */
export interface ServerLimits {
  maxFrameBytes: number;
  /** Connections open at once, hooks included. */
  maxConnections: number;
  /** Of `maxConnections`, slots only hook connections may take (see `classify`). */
  hookConnections: number;
  /** A connection that sends nothing for this long (and is not watching) is dropped. */
  idleTimeoutMs: number;
  /** A frame must be whole this long after its first byte, or its connection is dropped. */
  frameTimeoutMs: number;
  /** A watcher (or a client not reading its answers) with this much output unread is dropped. */
  maxOutboxBytes: number;
  /** Unread output of all connections together; beyond it the connection holding most is dropped. */
  outputBudgetBytes: number;
  /** Largest answer sent (a `list` of a full registry); the CLI accepts 256 MiB. */
  maxAnswerBytes: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxFrameBytes: MAX_FRAME_BYTES,
  maxConnections: 1024,
  hookConnections: 256,
  idleTimeoutMs: 10_000,
  frameTimeoutMs: 2_000,
  maxOutboxBytes: 16 * 1024 * 1024,
  outputBudgetBytes: 64 * 1024 * 1024,
  maxAnswerBytes: 256 * 1024 * 1024,
};

/**
 * What a connection is, learnt from its first frame: a hook (or its bootstrap fork)
 * writes the registry; everything else (CLI, watchers, probes) reads it. Until its
 * first frame a connection is `new`.
 */
export type ConnectionKind = "new" | "hook" | "client";

interface Connection {
  /** Numbers the connection, so a bootstrap batch can be tied to the one that carries it. */
  session: number;
  /** performance.now() at accept. */
  openedAt: number;
  /** "refused": holds no slot (never admitted, or let go). */
  kind: ConnectionKind | "refused";
  decoder: FrameDecoder;
  out: Outbox;
  idle: ReturnType<typeof setTimeout> | undefined;
  frame: ReturnType<typeof setTimeout> | undefined;
  watching: boolean;
  /** How the watch hub (lib/agent/watch.ts) streams to this connection. */
  peer: WatchPeer | undefined;
  /** True while the hub queues a watch's answer and catch-up (snapshot or resumed changes), in one turn. */
  catchingUp: boolean;
  /** Bytes of that catch-up: allowed beyond the watcher bound until everything queued is written. */
  catchUpBytes: number;
  /** Answers still waiting on gates: later answers on this connection queue behind them, in order. */
  answers: Promise<void> | undefined;
  closing: boolean;
}

/** Everything the server needs, passed in. */
export interface ServerDeps {
  socketPath: string;
  registry: Registry;
  info: AgentInfo;
  log: Logger;
  limits?: Partial<ServerLimits>;
  /** Told of every answered request and every error answer (metrics, `status`). */
  observer?: ServerObserver;
  /** Where a hook's success record goes (lib/agent/hook-records.ts); absent: a request's `log` is not written. */
  hookRecord?: HookRecordHandler;
}

/** What the server reports as it answers. */
export interface ServerObserver {
  request: (op: string, ok: boolean, seconds: number) => void;
  error: (code: string, message: string) => void;
  dropped?: (reason: DropReason) => void;
}

/** How long a connection may go without a whole first frame before it can be made to give way to a newcomer. */
const FIRST_FRAME_GRACE_MS = 250;

/** Ops that only hooks and their bootstrap fork send: their connections may use the reserved slots. */
const HOOK_OPS: ReadonlySet<string> = new Set(["register", "unregister", "bootstrap-begin", "bootstrap-end"]);

/** Classifies a connection by the op of its first frame (anything unreadable is a client). */
export function classify(op: unknown): "hook" | "client" {
  return typeof op === "string" && HOOK_OPS.has(op) ? "hook" : "client";
}

const text = new TextDecoder();

/** The hook call an answered request was, if it was one: the one call its `log` may be a line of. */
function answeredHookCall(request: Request, removing: Container | undefined, response: Response): AnsweredHookCall | undefined {
  if (request.op === "register" && request.source === "hook") {
    const held = { pod: request.container.pod, containerName: request.container.containerName };
    const result = response.ok ? (response.result as { warning?: unknown }) : {};
    return { op: "register", container: request.container.id, held, ...(typeof result.warning === "string" ? { warning: result.warning } : {}) };
  }
  if (request.op === "unregister") {
    return { op: "unregister", container: request.container, held: removing ? { pod: removing.pod, containerName: removing.containerName } : null };
  }
  return undefined;
}

/** Listens on a UNIX socket and serves the registry. */
export function serve(deps: ServerDeps): UnixSocketListener<Connection> {
  const limits = { ...DEFAULT_LIMITS, ...deps.limits };
  const { registry, log } = deps;
  const info: AgentInfo = deps.info.consumers ? deps.info : { ...deps.info, consumers: defaultConsumers(registry, log) };
  const hub = info.consumers?.hub;
  const budget = new OutputBudget(limits.outputBudgetBytes);
  const clientSlots = Math.max(1, limits.maxConnections - limits.hookConnections);
  const counts = { new: 0, hook: 0, client: 0 };
  /** Connections without a first frame yet, oldest first. */
  const fresh = new Set<Socket<Connection>>();
  const watchers = new Set<Socket<Connection>>();
  /** Connections with output queued. */
  const backlogged = new Set<Socket<Connection>>();
  /** Watchers with events queued but not yet written (written after the current answer). */
  const unflushed = new Set<Socket<Connection>>();
  let open = 0;
  let sessions = 0;

  const setKind = (socket: Socket<Connection>, kind: ConnectionKind): void => {
    const conn = socket.data;
    if (conn.kind !== "refused") counts[conn.kind] -= 1;
    if (conn.kind === "new") fresh.delete(socket);
    conn.kind = kind;
    counts[kind] += 1;
    if (kind === "new") fresh.add(socket);
  };

  const drop = (socket: Socket<Connection>, reason: DropReason, graceful: boolean): void => {
    const conn = socket.data;
    if (conn.closing) return;
    deps.observer?.dropped?.(reason);
    forget(socket);
    if (graceful) socket.end();
    else socket.terminate();
  };

  /** Lets go of everything the connection holds, its slot included; it sends and receives nothing more. */
  const forget = (socket: Socket<Connection>): void => {
    const conn = socket.data;
    if (!conn.closing) open -= 1;
    if (conn.kind !== "refused") counts[conn.kind] -= 1;
    conn.kind = "refused";
    conn.closing = true;
    clearTimeout(conn.idle);
    clearTimeout(conn.frame);
    conn.out.clear();
    backlogged.delete(socket);
    unflushed.delete(socket);
    watchers.delete(socket);
    fresh.delete(socket);
  };

  const write = (socket: Socket<Connection>): void => {
    const conn = socket.data;
    if (conn.closing) return;
    unflushed.delete(socket);
    if (conn.out.flush((chunk) => socket.write(chunk))) {
      backlogged.delete(socket);
      conn.catchUpBytes = 0;
    } else backlogged.add(socket);
  };

  /** Drops whoever holds the most unread output (never `keep`) until `bytes` more fit the budget. */
  const makeRoom = (bytes: number, keep: Socket<Connection> | undefined): void => {
    while (!budget.fits(bytes)) {
      let worst: Socket<Connection> | undefined;
      for (const socket of backlogged) {
        if (socket !== keep && (!worst || socket.data.out.bytes > worst.data.out.bytes)) worst = socket;
      }
      if (!worst) return;
      log("warn", "dropping the client with the most unread output: the agent's output budget is full", {
        pending: worst.data.out.bytes,
        budget: limits.outputBudgetBytes,
      });
      drop(worst, "output-budget", false);
    }
  };

  /** Queues and writes an answer at once: answers never wait behind watchers' events. */
  const answer = (socket: Socket<Connection>, response: Response): void => {
    const conn = socket.data;
    if (conn.closing) return;
    if (!response.ok) {
      deps.observer?.error(response.error.code, response.error.message);
      // A full registry says so where it refuses (the registry's `refused`), on every path.
      if (response.error.code === "E_DEADLINE") log("warn", response.error.message);
      // A client's mistake is its own: at debug, so a noisy client cannot flood the agent's log (it is counted).
      else if ((CLIENT_ERROR_CODES as readonly string[]).includes(response.error.code))
        log("debug", "request refused", { code: response.error.code, error: response.error.message });
    }
    if (conn.out.bytes > limits.maxOutboxBytes) {
      log("warn", "dropping a client that does not read its answers", { pending: conn.out.bytes });
      drop(socket, "slow-reader", false);
      return;
    }
    let frame: Uint8Array;
    try {
      frame = encodeFrame(response, limits.maxAnswerBytes);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      frame = encodeFrame(errorResponse(response.id, "E_FRAME_TOO_LARGE", `answer too large: ${message}`));
    }
    makeRoom(frame.length, socket);
    conn.out.push(frame);
    write(socket);
  };

  /** One event encoded once for every watcher it goes to (the hub sends the same object to each). */
  const frames = new WeakMap<object, Uint8Array>();
  /**
   * Queues a message of the watch stream (lib/agent/watch.ts): its answer, snapshot
   * and events, in order; written once the current answer is out. The catch-up (the
   * snapshot, or the changes a resumed watch missed) always fits, however large: a
   * registry may hold more than the watcher bound, and a consumer that cannot get
   * its snapshot gets nothing. A watcher that leaves more than maxOutboxBytes unread
   * beyond what is left of its catch-up is dropped; the shared budget bounds them all.
   */
  const stream = (socket: Socket<Connection>, message: object): void => {
    const conn = socket.data;
    if (conn.closing) return;
    if ("ok" in message && message.ok === false && "error" in message) {
      const error = message.error as { code: string; message: string };
      deps.observer?.error(error.code, error.message);
    }
    let frame = frames.get(message);
    if (!frame) {
      frame = encodeFrame(message, Number.MAX_SAFE_INTEGER);
      frames.set(message, frame);
    }
    if (conn.catchingUp) conn.catchUpBytes += frame.length;
    else if (conn.out.bytes > 0 && conn.out.bytes + frame.length > limits.maxOutboxBytes + conn.catchUpBytes) {
      log("warn", "dropping a watcher that does not read its events", { pending: conn.out.bytes });
      drop(socket, "slow-reader", false);
      return;
    }
    makeRoom(frame.length, socket);
    if (conn.closing) return;
    conn.out.push(frame);
    backlogged.add(socket);
    if (unflushed.size === 0) setImmediate(flushWatchers);
    unflushed.add(socket);
  };

  const flushWatchers = (): void => {
    for (const socket of [...unflushed]) write(socket);
  };

  const armIdle = (socket: Socket<Connection>): void => {
    const conn = socket.data;
    clearTimeout(conn.idle);
    if (conn.watching || conn.answers) return;
    conn.idle = setTimeout(() => {
      log("warn", `dropping a client that sent nothing for ${limits.idleTimeoutMs} ms`);
      answer(socket, errorResponse(null, "E_PROTOCOL", `idle for ${limits.idleTimeoutMs} ms (sent nothing)`));
      drop(socket, "idle", true);
    }, limits.idleTimeoutMs);
  };

  /** A frame must be whole within `frameTimeoutMs` of its first byte, however its bytes trickle in. */
  const armFrame = (socket: Socket<Connection>, completed: boolean): void => {
    const conn = socket.data;
    if (completed || !conn.decoder.midFrame) {
      clearTimeout(conn.frame);
      conn.frame = undefined;
    }
    if (!conn.decoder.midFrame || conn.frame !== undefined) return;
    conn.frame = setTimeout(() => {
      log("warn", `dropping a client whose frame was not whole ${limits.frameTimeoutMs} ms after its first byte`, { kind: conn.kind });
      answer(socket, errorResponse(null, "E_PROTOCOL", `frame not whole within ${limits.frameTimeoutMs} ms of its first byte`));
      drop(socket, "stalled-frame", true);
    }, limits.frameTimeoutMs);
  };

  /** The first frame says what the connection is; a client beyond its share of the slots is refused. */
  const admit = (socket: Socket<Connection>, op: unknown): boolean => {
    if (socket.data.kind !== "new") return true;
    const kind = classify(op);
    if (kind === "client" && counts.client >= clientSlots) {
      log("warn", "too many client connections; refusing one", { limit: clientSlots });
      answer(socket, errorResponse(null, "E_BUSY", `too many client connections (limit ${clientSlots}; ${limits.hookConnections} more are kept for hooks)`));
      drop(socket, "busy", true);
      return false;
    }
    setKind(socket, kind);
    return true;
  };

  const handlePayload = (socket: Socket<Connection>, payload: Uint8Array): void => {
    let json: unknown;
    try {
      json = JSON.parse(text.decode(payload));
    } catch {
      if (admit(socket, undefined)) answer(socket, errorResponse(null, "E_PROTOCOL", "frame is not valid JSON"));
      return;
    }
    const envelope = typeof json === "object" && json !== null ? (json as Record<string, unknown>) : {};
    if (!admit(socket, envelope.op)) return;
    const id = typeof envelope.id === "number" && Number.isInteger(envelope.id) && envelope.id >= 0 ? envelope.id : null;
    if (envelope.v !== PROTOCOL_VERSION) {
      answer(
        socket,
        errorResponse(id, "E_VERSION", `unsupported protocol version ${JSON.stringify(envelope.v ?? null)} (this agent speaks ${PROTOCOL_VERSION})`),
      );
      return;
    }
    const parsed = v.safeParse(RequestSchema, json);
    if (!parsed.success) {
      answer(socket, errorResponse(id, "E_INVALID_REQUEST", `invalid request: ${describeIssue(parsed.issues[0])}`));
      return;
    }
    const request = parsed.output;
    const conn = socket.data;
    const started = performance.now();
    if (request.op === "watch" || request.op === "ack" || request.op === "nack") {
      conn.peer ??= { send: (message) => stream(socket, message), close: () => drop(socket, "framing", true) };
    }
    // An unregister's log line names the pod the agent held, read before it is gone.
    const removing = request.op === "unregister" ? registry.get(request.container) : undefined;
    conn.catchingUp = request.op === "watch";
    let result: ReturnType<typeof dispatch>;
    try {
      result = dispatch(request, registry, info, conn.session, conn.peer);
    } finally {
      conn.catchingUp = false;
    }
    const answered = (response: Response): void => {
      const tookMs = performance.now() - started;
      deps.observer?.request(request.op, response.ok, tookMs / 1000);
      if (request.op === "register" || request.op === "unregister") {
        log("debug", request.op, { id: request.op === "register" ? request.container.id : request.container, ok: response.ok });
      }
      answer(socket, response);
      // The hook's line, after its answer: for a call the agent answered ok, and only a hook's.
      if (response.ok && (request.op === "register" || request.op === "unregister") && request.log && deps.hookRecord) {
        const call = answeredHookCall(request, removing, response);
        if (call) deps.hookRecord(call, { ...request.log, ms: request.log.ms + tookMs });
      }
    };
    if (result === null) {
      // `watch`: the hub answered on the stream; a watcher is never idle.
      if (conn.peer && hub?.isWatching(conn.peer) && !conn.watching && !conn.closing) {
        clearTimeout(conn.idle);
        conn.watching = true;
        watchers.add(socket);
      }
      return;
    }
    if (!(result instanceof Promise) && !conn.answers) return answered(result);
    // A gated registration: only this connection waits (and is not idle meanwhile); its answers stay in order.
    clearTimeout(conn.idle);
    const queued: Promise<void> = (conn.answers ?? Promise.resolve())
      .then(() => result)
      .then(answered, (err: unknown) => answer(socket, errorResponse(request.id, "E_INTERNAL", err instanceof Error ? err.message : String(err))))
      .finally(() => {
        if (conn.answers !== queued) return;
        conn.answers = undefined;
        if (!conn.closing) armIdle(socket);
      });
    conn.answers = queued;
  };

  /**
   * A new connection. When every slot is taken, the oldest connection that has had
   * time to send its first frame and has not (hooks send theirs at once) makes way;
   * without one, the newcomer is refused.
   */
  const accept = (socket: Socket<Connection>): void => {
    open += 1;
    if (open > limits.maxConnections) {
      const oldest = fresh.values().next();
      if (!oldest.done && performance.now() - oldest.value.data.openedAt >= FIRST_FRAME_GRACE_MS) {
        log("warn", "all connection slots taken; dropping the oldest that has sent no whole frame", { limit: limits.maxConnections });
        drop(oldest.value, "evicted-new", false);
      } else {
        log("warn", "too many connections; refusing one", { limit: limits.maxConnections });
        setKind(socket, "new");
        answer(socket, errorResponse(null, "E_BUSY", `too many connections (limit ${limits.maxConnections})`));
        drop(socket, "busy", true);
        return;
      }
    }
    setKind(socket, "new");
    armIdle(socket);
  };

  const listener = Bun.listen<Connection>({
    unix: deps.socketPath,
    socket: {
      open(socket) {
        socket.data = {
          session: ++sessions,
          openedAt: performance.now(),
          kind: "refused",
          decoder: new FrameDecoder(limits.maxFrameBytes),
          out: new Outbox(budget),
          idle: undefined,
          frame: undefined,
          watching: false,
          peer: undefined,
          answers: undefined,
          catchingUp: false,
          catchUpBytes: 0,
          closing: false,
        };
        accept(socket);
      },
      data(socket, chunk) {
        const conn = socket.data;
        if (conn.closing) return;
        armIdle(socket);
        // Whole frames before a broken header in the same chunk are still answered, in order.
        const { frames: payloads, error } = conn.decoder.pushAll(chunk);
        for (const payload of payloads) {
          if (conn.closing) return;
          try {
            handlePayload(socket, payload);
          } catch (err) {
            const message = err instanceof Error ? err.message : String(err);
            log("error", "request failed", { error: message });
            answer(socket, errorResponse(null, "E_INTERNAL", message));
          }
        }
        if (conn.closing) return;
        if (error) {
          log("debug", "dropping a client that broke framing", { code: error.code, error: error.message });
          answer(socket, errorResponse(null, error.code, error.message));
          drop(socket, "framing", true);
          return;
        }
        armFrame(socket, payloads.length > 0);
      },
      drain(socket) {
        write(socket);
      },
      close(socket) {
        const conn = socket.data;
        forget(socket);
        if (conn.peer) hub?.detach(conn.peer);
        deps.info.bootstrap?.sessionClosed(conn.session);
      },
      error(socket, err) {
        log("warn", "client socket error", { error: err.message });
        drop(socket, "framing", false);
      },
    },
  });
  return listener;
}
