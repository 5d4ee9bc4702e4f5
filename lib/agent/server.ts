/**
 * Agent side of the socket: one frame decoder per connection, one answer per
 * request, bounded frames, bounded connections, and a deadline for clients that
 * go quiet half-way. A bad client is answered with an error or dropped; nobody
 * else notices.
 */
import type { Socket, UnixSocketListener } from "bun";
import { dispatch, type AgentInfo } from "./dispatch.ts";
import { ArmorError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../registry.ts";
import { describeIssue } from "../validate.ts";
import { encodeFrame, FrameDecoder, MAX_FRAME_BYTES } from "../wire/frame.ts";
import { errorResponse, PROTOCOL_VERSION, RequestSchema, type Response } from "../wire/messages.ts";
import * as v from "valibot";

/** Limits the server enforces on every client. */
export interface ServerLimits {
  maxFrameBytes: number;
  maxConnections: number;
  /** A connection that sends nothing for this long (and is not watching) is dropped. */
  idleTimeoutMs: number;
  /** A watcher that lets this much output pile up unread is dropped. */
  maxOutboxBytes: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxFrameBytes: MAX_FRAME_BYTES,
  maxConnections: 1024,
  idleTimeoutMs: 10_000,
  maxOutboxBytes: 16 * 1024 * 1024,
};

interface Connection {
  /** Numbers the connection, so a bootstrap batch can be tied to the one that carries it. */
  session: number;
  decoder: FrameDecoder;
  outbox: Uint8Array;
  idle: ReturnType<typeof setTimeout> | undefined;
  unsubscribe: (() => void) | undefined;
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
}

/** What the server reports as it answers. */
export interface ServerObserver {
  request: (op: string, ok: boolean, seconds: number) => void;
  error: (code: string, message: string) => void;
}

const text = new TextDecoder();

/** Listens on a UNIX socket and serves the registry. */
export function serve(deps: ServerDeps): UnixSocketListener<Connection> {
  const limits = { ...DEFAULT_LIMITS, ...deps.limits };
  const { registry, log } = deps;
  let open = 0;
  let sessions = 0;

  const send = (socket: Socket<Connection>, message: Response | object): void => {
    const conn = socket.data;
    if (conn.closing) return;
    if ("ok" in message && message.ok === false) deps.observer?.error(message.error.code, message.error.message);
    const frame = encodeFrame(message, Number.MAX_SAFE_INTEGER);
    conn.outbox = conn.outbox.length === 0 ? frame : Buffer.concat([conn.outbox, frame]);
    if (conn.outbox.length > limits.maxOutboxBytes) {
      log("warn", "dropping a client that does not read its answers", { pending: conn.outbox.length });
      drop(socket);
      return;
    }
    flush(socket);
  };

  const flush = (socket: Socket<Connection>): void => {
    const conn = socket.data;
    if (conn.outbox.length === 0) return;
    const written = socket.write(conn.outbox);
    conn.outbox = written >= conn.outbox.length ? new Uint8Array(0) : conn.outbox.subarray(Math.max(written, 0));
  };

  const drop = (socket: Socket<Connection>): void => {
    socket.data.closing = true;
    socket.end();
  };

  const armIdle = (socket: Socket<Connection>): void => {
    const conn = socket.data;
    clearTimeout(conn.idle);
    if (conn.unsubscribe) return;
    conn.idle = setTimeout(() => {
      const reason = conn.decoder.midFrame ? "stalled half-way through a frame" : "sent nothing";
      log("warn", `dropping a client that ${reason} for ${limits.idleTimeoutMs} ms`);
      send(socket, errorResponse(null, "E_PROTOCOL", `idle for ${limits.idleTimeoutMs} ms (${reason})`));
      drop(socket);
    }, limits.idleTimeoutMs);
  };

  const handlePayload = (socket: Socket<Connection>, payload: Uint8Array): void => {
    let json: unknown;
    try {
      json = JSON.parse(text.decode(payload));
    } catch {
      send(socket, errorResponse(null, "E_PROTOCOL", "frame is not valid JSON"));
      return;
    }
    const envelope = typeof json === "object" && json !== null ? (json as Record<string, unknown>) : {};
    const id = typeof envelope.id === "number" && Number.isInteger(envelope.id) && envelope.id >= 0 ? envelope.id : null;
    if (envelope.v !== PROTOCOL_VERSION) {
      send(
        socket,
        errorResponse(id, "E_VERSION", `unsupported protocol version ${JSON.stringify(envelope.v ?? null)} (this agent speaks ${PROTOCOL_VERSION})`),
      );
      return;
    }
    const parsed = v.safeParse(RequestSchema, json);
    if (!parsed.success) {
      send(socket, errorResponse(id, "E_INVALID_REQUEST", `invalid request: ${describeIssue(parsed.issues[0])}`));
      return;
    }
    const request = parsed.output;
    const started = performance.now();
    const response = dispatch(request, registry, deps.info, socket.data.session);
    deps.observer?.request(request.op, response.ok, (performance.now() - started) / 1000);
    if (request.op === "register" || request.op === "unregister") {
      log("debug", request.op, { id: request.op === "register" ? request.container.id : request.container, ok: response.ok });
    }
    send(socket, response);
    if (request.op === "watch" && !socket.data.unsubscribe) {
      clearTimeout(socket.data.idle);
      socket.data.unsubscribe = registry.subscribe((event) => send(socket, { v: PROTOCOL_VERSION, ...event }));
    }
  };

  return Bun.listen<Connection>({
    unix: deps.socketPath,
    socket: {
      open(socket) {
        socket.data = {
          session: ++sessions,
          decoder: new FrameDecoder(limits.maxFrameBytes),
          outbox: new Uint8Array(0),
          idle: undefined,
          unsubscribe: undefined,
          closing: false,
        };
        open += 1;
        if (open > limits.maxConnections) {
          log("warn", "too many connections; refusing one", { limit: limits.maxConnections });
          send(socket, errorResponse(null, "E_BUSY", `too many connections (limit ${limits.maxConnections})`));
          drop(socket);
          return;
        }
        armIdle(socket);
      },
      data(socket, chunk) {
        const conn = socket.data;
        if (conn.closing) return;
        armIdle(socket);
        // Whole frames before a broken header in the same chunk are still answered, in order.
        const { frames: payloads, error } = conn.decoder.pushAll(chunk);
        for (const payload of payloads) {
          try {
            handlePayload(socket, payload);
          } catch (err) {
            const message = err instanceof Error ? err.message : String(err);
            log("error", "request failed", { error: message });
            send(socket, errorResponse(null, "E_INTERNAL", message));
          }
        }
        if (error) {
          log("warn", "dropping a client that broke framing", { code: error.code, error: error.message });
          send(socket, errorResponse(null, error.code, error.message));
          drop(socket);
        }
      },
      drain(socket) {
        flush(socket);
      },
      close(socket) {
        open -= 1;
        clearTimeout(socket.data.idle);
        socket.data.unsubscribe?.();
        socket.data.closing = true;
        deps.info.bootstrap?.sessionClosed(socket.data.session);
      },
      error(socket, err) {
        log("warn", "client socket error", { error: err.message });
        drop(socket);
      },
    },
  });
}
