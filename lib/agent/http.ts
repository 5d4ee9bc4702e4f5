/**
 * `serve --metrics ADDR`: /metrics (Prometheus text), /healthz (serving), /readyz
 * (bootstrap done), on a small HTTP/1.1 server of our own over Bun.listen. Any local
 * user can reach a TCP port, so it is bounded in everything the hook socket needs:
 * at most `maxConnections` at once, each request read within `maxRequestBytes` and
 * the whole exchange within `deadlineMs`, one request per connection. When every
 * slot is taken, the oldest connection still without a whole request makes way, however
 * young: a scraper or the kubelet's probe sends its request at once, a flood never does,
 * so a flood that opens connections faster than any grace period still lets every probe
 * in (with a grace, 16 connections every 250 ms turned every probe away: the kubelet then
 * restarts the agent). The way is made `TRIM_AFTER_MS` later, not in the accept: Bun
 * accepts a whole backlog before it reads any of it, so a probe accepted amid a flood's
 * burst was cut before its request (already sent) was read; until then up to
 * `ADMIT_FACTOR` × the cap are held. With every slot answering a request, the newcomer
 * is answered 503 and closed. Bun.serve has no connection cap: 20,000 idle connections took every
 * descriptor of the agent.
 */
import type { Socket, TCPSocketListener } from "bun";
import { ArmorError } from "../errors.ts";

/** What the endpoints read. */
export interface HttpDeps {
  metrics: () => string;
  ready: () => boolean;
}

/** Bounds of the metrics listener. */
export interface HttpLimits {
  maxConnections: number;
  /** From accept to the last byte of the answer. */
  deadlineMs: number;
  /** Request line and headers; a longer request is answered 431. */
  maxRequestBytes: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = { maxConnections: 16, deadlineMs: 5_000, maxRequestBytes: 8 * 1024 };

/** Connections held at most, for a moment, per slot of `maxConnections` (what the descriptor budget counts). */
export const ADMIT_FACTOR = 4;
/** How long a newcomer past the cap waits for the oldest connection without a request to make way. */
const TRIM_AFTER_MS = 10;

/** A running metrics listener. */
export interface HttpServer {
  port: number;
  stop: () => void;
}

/** Parses `HOST:PORT` (IPv4 or a name; `[::1]:PORT` for IPv6); throws E_USAGE. */
export function parseAddress(addr: string): { hostname: string; port: number } {
  const match = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(addr);
  const port = Number(match?.[2]);
  if (!match?.[1] || port < 1 || port > 65_535) throw new ArmorError("E_USAGE", `--metrics must be HOST:PORT (e.g. 127.0.0.1:9469), got "${addr}"`);
  return { hostname: match[1].replace(/^\[|\]$/g, ""), port };
}

/** One answer: status, content type, body. */
export interface HttpAnswer {
  status: number;
  type: string;
  body: string;
}

const TEXT = "text/plain; charset=utf-8";
const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
  503: "Service Unavailable",
};

/** The answer to a request head (request line and headers, without the blank line). */
export function answerRequest(head: string, deps: HttpDeps): HttpAnswer {
  const line = head.slice(0, head.indexOf("\r\n") < 0 ? head.length : head.indexOf("\r\n"));
  const match = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(line);
  if (!match) return { status: 400, type: TEXT, body: "bad request\n" };
  const [, method, target = ""] = match;
  if (method !== "GET") return { status: 405, type: TEXT, body: "method not allowed\n" };
  let path = target.replace(/[?#].*$/, "");
  if (/^https?:\/\//i.test(path)) path = path.replace(/^https?:\/\/[^/]*/i, "") || "/";
  if (path === "/metrics") return { status: 200, type: "text/plain; version=0.0.4; charset=utf-8", body: deps.metrics() };
  if (path === "/healthz") return { status: 200, type: TEXT, body: "ok\n" };
  if (path === "/readyz") return deps.ready() ? { status: 200, type: TEXT, body: "ready\n" } : { status: 503, type: TEXT, body: "bootstrapping\n" };
  return { status: 404, type: TEXT, body: "not found\n" };
}

const encoder = new TextEncoder();

function encodeAnswer(answer: HttpAnswer): Uint8Array {
  const body = encoder.encode(answer.body);
  const head =
    `HTTP/1.1 ${answer.status} ${REASONS[answer.status] ?? ""}\r\n` +
    `content-type: ${answer.type}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n` +
    (answer.status === 405 ? "allow: GET\r\n" : "") +
    "\r\n";
  const bytes = new Uint8Array(head.length + body.length);
  bytes.set(encoder.encode(head), 0);
  bytes.set(body, head.length);
  return bytes;
}

interface Exchange {
  request: string;
  /** Answer bytes not yet written; null until the request is read. */
  pending: Uint8Array | null;
  timer: ReturnType<typeof setTimeout> | undefined;
  counted: boolean;
}

/** Starts the HTTP endpoints; the caller stops the returned server. */
export function startHttp(addr: string, deps: HttpDeps, limits: Partial<HttpLimits> = {}): HttpServer {
  const bounds = { ...DEFAULT_HTTP_LIMITS, ...limits };
  const { hostname, port } = parseAddress(addr);
  let open = 0;
  /** Admitted connections still without a whole request, oldest first. */
  const waiting = new Set<Socket<Exchange>>();
  /** Newcomers admitted past the cap, each owed one oldest connection without a request. */
  let owed = 0;
  let trimTimer: ReturnType<typeof setTimeout> | undefined;
  const trim = (): void => {
    trimTimer = undefined;
    for (; owed > 0; owed -= 1) {
      const oldest = waiting.values().next();
      if (oldest.done) break;
      release(oldest.value);
      oldest.value.terminate();
    }
    owed = 0;
  };

  const release = (socket: Socket<Exchange>): void => {
    const exchange = socket.data;
    waiting.delete(socket);
    clearTimeout(exchange.timer);
    if (exchange.counted) open -= 1;
    exchange.counted = false;
  };

  const write = (socket: Socket<Exchange>): void => {
    const exchange = socket.data;
    if (!exchange.pending) return;
    const written = Math.max(0, socket.write(exchange.pending));
    exchange.pending = exchange.pending.subarray(written);
    if (exchange.pending.length === 0) {
      release(socket);
      socket.end();
    }
  };

  const reply = (socket: Socket<Exchange>, answer: HttpAnswer): void => {
    waiting.delete(socket);
    socket.data.pending = encodeAnswer(answer);
    write(socket);
  };

  let listener: TCPSocketListener<Exchange>;
  try {
    listener = Bun.listen<Exchange>({
      hostname,
      port,
      socket: {
        open(socket) {
          socket.data = { request: "", pending: null, timer: undefined, counted: false };
          const oldest = waiting.values().next();
          if (open >= bounds.maxConnections * ADMIT_FACTOR && !oldest.done) {
            release(oldest.value);
            oldest.value.terminate();
          }
          if (open >= bounds.maxConnections && (oldest.done || open >= bounds.maxConnections * ADMIT_FACTOR)) {
            // Over the cap: one short answer and the descriptor is free again at once.
            socket.end(encodeAnswer({ status: 503, type: TEXT, body: "busy\n" }));
            return;
          }
          if (open >= bounds.maxConnections) {
            owed += 1;
            trimTimer ??= setTimeout(trim, TRIM_AFTER_MS);
          }
          open += 1;
          socket.data.counted = true;
          waiting.add(socket);
          socket.data.timer = setTimeout(() => {
            release(socket);
            socket.terminate();
          }, bounds.deadlineMs);
        },
        data(socket, chunk) {
          const exchange = socket.data;
          if (!exchange.counted || exchange.pending) return;
          exchange.request += Buffer.from(chunk).toString("latin1");
          const end = exchange.request.indexOf("\r\n\r\n");
          if (end >= 0 && end <= bounds.maxRequestBytes) reply(socket, answerRequest(exchange.request.slice(0, end), deps));
          else if (exchange.request.length > bounds.maxRequestBytes) reply(socket, { status: 431, type: TEXT, body: "request too large\n" });
        },
        drain(socket) {
          write(socket);
        },
        close(socket) {
          release(socket);
        },
        error(socket) {
          release(socket);
        },
      },
    });
  } catch (err) {
    throw new ArmorError("E_SOCKET", `cannot listen for metrics on ${addr}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return {
    port: listener.port,
    stop: () => {
      clearTimeout(trimTimer);
      listener.stop(true);
    },
  };
}
