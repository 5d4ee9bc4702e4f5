/** A bare socket client for server tests: sends arbitrary bytes, collects decoded frames. */
import type { Socket } from "bun";
import { encodeFrame, FrameDecoder } from "../../lib/wire/frame.ts";

const text = new TextDecoder();

/** A raw connection to a UNIX socket that decodes whatever frames come back. */
export class RawClient {
  readonly #socket: Socket<undefined>;
  readonly #received: unknown[] = [];
  readonly #waiters: Array<() => void> = [];
  readonly closed: Promise<void>;
  #isClosed = false;

  private constructor(socket: Socket<undefined>, received: unknown[], waiters: Array<() => void>, closed: Promise<void>) {
    this.#socket = socket;
    this.#received = received;
    this.#waiters = waiters;
    this.closed = closed.then(() => {
      this.#isClosed = true;
    });
  }

  /** Connects to `path`. */
  static async connect(path: string): Promise<RawClient> {
    const decoder = new FrameDecoder(256 * 1024 * 1024);
    const received: unknown[] = [];
    const waiters: Array<() => void> = [];
    const wake = (): void => {
      for (const waiter of waiters.splice(0)) waiter();
    };
    let markClosed: () => void = () => {};
    const closed = new Promise<void>((resolve) => {
      markClosed = resolve;
    });
    const socket = await Bun.connect<undefined>({
      unix: path,
      socket: {
        data(_s, chunk) {
          for (const payload of decoder.push(chunk)) received.push(JSON.parse(text.decode(payload)));
          wake();
        },
        close() {
          markClosed();
          wake();
        },
        error() {
          markClosed();
          wake();
        },
      },
    });
    return new RawClient(socket, received, waiters, closed);
  }

  /** Writes raw bytes. */
  write(bytes: Uint8Array): void {
    this.#socket.write(bytes);
  }

  /** Sends one message as a frame. */
  send(message: unknown): void {
    this.write(encodeFrame(message, Number.MAX_SAFE_INTEGER));
  }

  /** Resolves with the next `count` messages, or rejects after `timeoutMs`. */
  async take(count = 1, timeoutMs = 2000): Promise<unknown[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.#received.length < count) {
      if (this.#isClosed) throw new Error(`connection closed after ${this.#received.length} of ${count} messages`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out with ${this.#received.length} of ${count} messages`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.#received.splice(0, count);
  }

  /** The next message. */
  async next(timeoutMs = 2000): Promise<unknown> {
    const [message] = await this.take(1, timeoutMs);
    return message;
  }

  /** Messages received and not yet taken. */
  get pending(): readonly unknown[] {
    return this.#received;
  }

  /** True once the peer closed the connection. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Resolves true if the connection closes within `timeoutMs`. */
  async closesWithin(timeoutMs: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    return Promise.race([this.closed.then(() => true), timeout]).finally(() => clearTimeout(timer));
  }

  /** Stops reading: what the agent sends piles up in its outbox (a consumer that never reads). */
  stopReading(): void {
    this.#socket.pause();
  }

  /** Reads again. */
  resumeReading(): void {
    this.#socket.resume();
  }

  /** Closes our side. */
  close(): void {
    this.#socket.end();
  }
}
