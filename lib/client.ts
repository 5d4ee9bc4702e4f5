/**
 * Client side of the agent socket: connect, send requests, match each answer to
 * its request, all under one deadline. Used by the hook (one request) and by the
 * agent's CLI commands (list, get, watch…).
 */
import type { Socket } from "bun";
import { untilAborted } from "./deadline.ts";
import { ArmorError, errnoOf, type ErrorCode } from "./errors.ts";
import { encodeFrame, FrameDecoder } from "./wire/frame.ts";
import { EventSchema, PROTOCOL_VERSION, ResponseSchema, type Event, type RequestBody } from "./wire/messages.ts";
import { parseJson, parseWith } from "./validate.ts";

/** How to reach the agent. */
export interface ClientOptions {
  socket: string;
  /** Deadline for connecting and for each answer, when no `signal` is given. */
  timeoutMs: number;
  /** One deadline for the whole conversation (the hook's): connecting and every answer end when it aborts. */
  signal?: AbortSignal;
  /** Largest answer accepted; list answers of a busy node are large. */
  maxFrameBytes?: number;
}

interface Pending {
  resolve: (result: unknown) => void;
  reject: (err: ArmorError) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const decoderText = new TextDecoder();

/** An open connection to the agent. */
export class AgentClient {
  readonly #socket: Socket<undefined>;
  readonly #options: ClientOptions;
  readonly #decoder: FrameDecoder;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #outbox: Uint8Array = new Uint8Array(0);
  #closed = false;
  #onEvent: ((event: Event) => void) | undefined;
  #onClose: ((err: ArmorError | undefined) => void) | undefined;

  private constructor(socket: Socket<undefined>, options: ClientOptions, decoder: FrameDecoder) {
    this.#socket = socket;
    this.#options = options;
    this.#decoder = decoder;
  }

  /** Connects within `timeoutMs`; throws E_AGENT_UNREACHABLE or E_AGENT_TIMEOUT. */
  static async connect(options: ClientOptions): Promise<AgentClient> {
    const decoder = new FrameDecoder(options.maxFrameBytes);
    let client: AgentClient | undefined;
    const handlers = {
      data: (_s: Socket<undefined>, chunk: Uint8Array) => {
        if (client) client.#receive(chunk);
      },
      drain: () => {
        if (client) client.#flush();
      },
      close: () => {
        if (client) client.#shutdown(undefined);
      },
      error: (_s: Socket<undefined>, err: Error) => {
        if (client) client.#shutdown(unreachable(options.socket, err));
      },
    };
    const connecting = Bun.connect({ unix: options.socket, socket: handlers }).catch((err: unknown) => {
      throw unreachable(options.socket, err);
    });
    const socket = await untilAborted(
      connecting,
      options.signal ?? AbortSignal.timeout(options.timeoutMs),
      () => new ArmorError("E_AGENT_TIMEOUT", `no connection to agent at ${options.socket} within ${options.timeoutMs} ms`),
    );
    client = new AgentClient(socket, options, decoder);
    return client;
  }

  /** Sends one request and resolves with the agent's `result`, or throws its error. */
  request(body: RequestBody): Promise<unknown> {
    if (this.#closed) return Promise.reject(new ArmorError("E_AGENT_UNREACHABLE", "connection to agent is closed"));
    const id = this.#nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const late = (): void => {
        if (this.#pending.delete(id)) reject(new ArmorError("E_AGENT_TIMEOUT", `agent did not answer "${body.op}" within ${this.#options.timeoutMs} ms`));
      };
      const signal = this.#options.signal;
      signal?.addEventListener("abort", late, { once: true });
      const timer = signal ? undefined : setTimeout(late, this.#options.timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#send(encodeFrame({ v: PROTOCOL_VERSION, id, ...body }));
    });
  }

  /** Receives the events of a `watch`, and learns when the stream ends. */
  listen(onEvent: (event: Event) => void, onClose: (err: ArmorError | undefined) => void): void {
    this.#onEvent = onEvent;
    this.#onClose = onClose;
  }

  /** Closes the connection; pending requests fail. */
  close(): void {
    this.#socket.end();
    this.#shutdown(undefined);
  }

  #send(frame: Uint8Array): void {
    this.#outbox = this.#outbox.length === 0 ? frame : Buffer.concat([this.#outbox, frame]);
    this.#flush();
  }

  #flush(): void {
    if (this.#outbox.length === 0) return;
    const written = this.#socket.write(this.#outbox);
    this.#outbox = written >= this.#outbox.length ? new Uint8Array(0) : this.#outbox.subarray(Math.max(written, 0));
  }

  #receive(chunk: Uint8Array): void {
    try {
      for (const payload of this.#decoder.push(chunk)) this.#dispatch(payload);
    } catch (err) {
      const error = err instanceof ArmorError ? err : new ArmorError("E_PROTOCOL", String(err));
      // Shut down first: end() can run the close handler synchronously, which would
      // fail pending requests as "unreachable" and lose this error.
      this.#shutdown(error);
      this.#socket.end();
    }
  }

  #dispatch(payload: Uint8Array): void {
    const json = parseJson(decoderText.decode(payload), "answer from agent", "E_PROTOCOL");
    if (typeof json === "object" && json !== null && "event" in json) {
      this.#onEvent?.(parseWith(EventSchema, json, "event from agent", "E_PROTOCOL"));
      return;
    }
    const response = parseWith(ResponseSchema, json, "answer from agent", "E_PROTOCOL");
    if (response.id === null) {
      const message = response.ok ? "" : response.error.message;
      // A busy agent did not look at the request: that is "could not be asked", where fail-open applies.
      if (!response.ok && response.error.code === "E_BUSY") throw new ArmorError("E_AGENT_UNREACHABLE", `agent at ${this.#options.socket} is busy: ${message}`);
      throw new ArmorError("E_AGENT_REJECTED", `agent: ${message}`);
    }
    const pending = this.#pending.get(response.id);
    if (!pending) return;
    this.#pending.delete(response.id);
    clearTimeout(pending.timer);
    if (response.ok) pending.resolve(response.result);
    else {
      // Not a refusal: "not found" is an answer callers branch on; a full registry or a missed
      // deadline means the agent could not take the container, where the hook's fail policy applies.
      const code = PASSED_THROUGH.has(response.error.code) ? (response.error.code as ErrorCode) : "E_AGENT_REJECTED";
      pending.reject(new ArmorError(code, `agent refused: ${response.error.code}: ${response.error.message}`));
    }
  }

  #shutdown(err: ArmorError | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(err ?? new ArmorError("E_AGENT_UNREACHABLE", "agent closed the connection before answering"));
    }
    this.#pending.clear();
    this.#onClose?.(err);
  }
}

/** Connects, sends one request, closes: the hook's whole conversation, under one deadline. */
export function callAgent(options: ClientOptions, body: RequestBody): Promise<unknown> {
  let client: AgentClient | undefined;
  // The connection, the request and its answer share one signal: no timer of their own.
  const signal = options.signal ?? AbortSignal.timeout(options.timeoutMs);
  const shared = { ...options, signal };
  const conversation = (async () => {
    client = await AgentClient.connect(shared);
    return await client.request(body);
  })();
  return untilAborted(
    conversation,
    signal,
    () => new ArmorError("E_AGENT_TIMEOUT", `agent at ${options.socket} did not answer "${body.op}" within ${options.timeoutMs} ms`),
  ).finally(() => client?.close());
}

/** Agent error codes a caller sees as they are; any other becomes E_AGENT_REJECTED. */
const PASSED_THROUGH: ReadonlySet<string> = new Set<ErrorCode>(["E_NOT_FOUND", "E_REGISTRY_FULL", "E_DEADLINE"]);

function unreachable(socket: string, err: unknown): ArmorError {
  if (err instanceof ArmorError) return err;
  const reason = errnoOf(err) ?? (err instanceof Error ? err.message : String(err));
  return new ArmorError("E_AGENT_UNREACHABLE", `cannot reach agent at ${socket}: ${reason}`, { cause: err });
}
