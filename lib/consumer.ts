/**
 * A consumer of the agent's registry, for security engines written in TypeScript
 * (and for `armor-agent watch`): it keeps a mirror of what the agent holds from a
 * snapshot and the changes after it, checks that revisions follow one another
 * without a gap, reconnects when the connection drops and resumes from the last
 * revision it applied (or takes the fresh snapshot the agent sends when it cannot),
 * and — as a gate — answers every gated add with the decision of `decide`.
 * The protocol it speaks is in PROTOCOL.md ("Watching" and "Gates").
 */
import { AgentClient } from "./client.ts";
import type { Container } from "./container.ts";
import { ArmorError, toArmorError } from "./errors.ts";
import { parseWith } from "./validate.ts";
import { MAX_NACK_REASON, WatchResultSchema, type ChangeEvent, type Event, type Since } from "./wire/messages.ts";

/** A gate's decision on one container: ack lets it start, nack refuses it with `reason`. */
export type GateAnswer = { ack: true } | { ack: false; reason: string };

/** Makes the consumer a gate: the agent waits (at most `timeoutMs`) for `decide` on every live registration. */
export interface GateOptions {
  name: string;
  timeoutMs: number;
  /** A throw or rejection nacks with its message. */
  decide: (container: Container) => Promise<GateAnswer>;
}

/** What the consumer reports. */
export interface WatchHandlers {
  /** The agent's whole set at `rev`: what was held before is replaced. `reset`: resuming was not possible (the agent restarted, or the changes are no longer kept). */
  snapshot?: (snapshot: { epoch: string; rev: number; reset: boolean; containers: Container[] }) => void;
  /** One change, in revision order, after the mirror applied it. */
  change?: (event: ChangeEvent) => void;
  /** A watch began: `resumed` when the agent sent only the changes after the position held. */
  connected?: (info: { epoch: string; rev: number; resumed: boolean }) => void;
  /** The connection ended; the next attempt is in `retryInMs`. */
  disconnected?: (error: ArmorError | undefined, retryInMs: number) => void;
  /** A gate's decision was sent (or could not be). */
  decided?: (container: Container, answer: GateAnswer) => void;
}

/** How to watch. */
export interface WatchOptions {
  socket: string;
  /** Deadline for connecting and for each answer. */
  timeoutMs: number;
  /** Resume from here instead of starting with a snapshot. */
  since?: Since;
  gate?: GateOptions;
  /**
   * Reconnect after a dropped connection (backoff from 100 ms, doubling, at most 5 s). The first
   * connection is never retried: its error is the caller's. Without it, the end of the stream
   * rejects `done` with E_AGENT_UNREACHABLE: an end is not quiet.
   */
  reconnect: boolean;
  signal?: AbortSignal;
  /** Largest frame accepted: a snapshot of a busy node is large. */
  maxFrameBytes?: number;
}

export const RETRY_MIN_MS = 100;
export const RETRY_MAX_MS = 5000;
const DEFAULT_MAX_FRAME_BYTES = 256 * 1024 * 1024;

/** A running watch: its mirror of the agent's registry and its position in the stream. */
export class Watch {
  readonly #options: WatchOptions;
  readonly #handlers: WatchHandlers;
  /** What the agent holds, by id, as of `position`. */
  readonly containers = new Map<string, Container>();
  #position: Since | undefined;
  /** Resolves when aborted; rejects when the first connection fails or (without reconnect) the stream ends. */
  readonly done: Promise<void>;

  constructor(options: WatchOptions, handlers: WatchHandlers) {
    this.#options = options;
    this.#handlers = handlers;
    this.#position = options.since;
    this.done = this.#run();
  }

  /** The last revision applied, and its epoch: pass it as `since` to resume. */
  get position(): Since | undefined {
    return this.#position;
  }

  async #run(): Promise<void> {
    const { signal } = this.#options;
    let delay = RETRY_MIN_MS;
    let first = true;
    while (!signal?.aborted) {
      let error: ArmorError | undefined;
      try {
        await this.#session(() => {
          first = false;
          delay = RETRY_MIN_MS;
        });
      } catch (err) {
        error = toArmorError(err);
        if (first || !this.#options.reconnect) throw error;
      }
      if (signal?.aborted) return;
      if (!this.#options.reconnect) throw new ArmorError("E_AGENT_UNREACHABLE", `the agent at ${this.#options.socket} closed the watch stream`);
      this.#handlers.disconnected?.(error, delay);
      await sleep(delay, signal);
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  }

  /** One connection: watch, apply what comes until it ends. */
  async #session(onWatching: () => void): Promise<void> {
    const { socket, timeoutMs, gate, signal } = this.#options;
    const client = await AgentClient.connect({ socket, timeoutMs, maxFrameBytes: this.#options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES });
    const onAbort = (): void => client.close();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await new Promise<void>((resolve, reject) => {
        // Reject before closing: the close would settle the session as a clean end.
        const fail = (err: unknown): void => {
          reject(toArmorError(err, "E_PROTOCOL"));
          client.close();
        };
        // Events that arrive with the watch answer wait for it: `connected` comes first.
        let early: Event[] | undefined = [];
        const apply = (event: Event): void => {
          try {
            this.#apply(event, client);
          } catch (err) {
            fail(err);
          }
        };
        client.listen(
          (event) => (early ? early.push(event) : apply(event)),
          (err) => (err ? reject(err) : resolve()),
        );
        const since = this.#position;
        client
          .request({ op: "watch", ...(since ? { since } : {}), ...(gate ? { gate: { name: gate.name, timeoutMs: gate.timeoutMs } } : {}) })
          .then((raw) => {
            const result = parseWith(WatchResultSchema, raw, "answer from agent", "E_PROTOCOL");
            onWatching();
            this.#handlers.connected?.({ epoch: result.epoch, rev: result.rev, resumed: result.resumed });
            const waiting = early ?? [];
            early = undefined;
            for (const event of waiting) apply(event);
          })
          .catch(fail);
      });
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Applies one event to the mirror; a revision out of sequence ends the connection (the next one resumes). */
  #apply(event: Event, client: AgentClient): void {
    if (event.event === "snapshot") {
      this.containers.clear();
      for (const container of event.containers) this.containers.set(container.id, container);
      this.#position = { epoch: event.epoch, rev: event.rev };
      this.#handlers.snapshot?.({ epoch: event.epoch, rev: event.rev, reset: event.reset === true, containers: event.containers });
      return;
    }
    const at = this.#position;
    if (!at || at.epoch !== event.epoch || event.rev !== at.rev + 1) {
      throw new ArmorError("E_PROTOCOL", `change ${event.epoch}:${event.rev} does not follow ${at ? `${at.epoch}:${at.rev}` : "a snapshot"}`);
    }
    if (event.event === "add") this.containers.set(event.container.id, event.container);
    else this.containers.delete(event.container.id);
    this.#position = { epoch: event.epoch, rev: event.rev };
    this.#handlers.change?.(event);
    if (event.event === "add" && event.gated && this.#options.gate) void this.#decide(event.rev, event.container, client, this.#options.gate);
  }

  async #decide(rev: number, container: Container, client: AgentClient, gate: GateOptions): Promise<void> {
    let answer: GateAnswer;
    try {
      answer = await gate.decide(container);
    } catch (err) {
      answer = { ack: false, reason: err instanceof Error ? err.message : String(err) };
    }
    const body = answer.ack ? { op: "ack" as const, rev } : { op: "nack" as const, rev, reason: answer.reason.slice(0, MAX_NACK_REASON) };
    try {
      await client.request(body);
    } catch {
      // The connection dropped meanwhile: the agent applied its gate policy to this container.
    }
    this.#handlers.decided?.(container, answer);
  }
}

/** Starts watching the agent at `options.socket`. */
export function watchAgent(options: WatchOptions, handlers: WatchHandlers): Watch {
  return new Watch(options, handlers);
}

/** Parses `EPOCH:REV` (as events and `--since` spell a position). */
export function parseSince(text: string): Since {
  const match = /^([0-9a-f]{1,64}):(\d{1,15})$/.exec(text);
  if (!match?.[1] || match[2] === undefined) throw new ArmorError("E_USAGE", `--since must be EPOCH:REV (e.g. 3f9c0a1b2c3d4e5f:42), got "${text}"`);
  return { epoch: match[1], rev: Number(match[2]) };
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
