/**
 * Output waiting for the agent's socket clients: per connection a queue of whole
 * frames and how much of the first one was written, and one byte budget shared by
 * every connection. Appending a frame costs O(1) whatever is queued (nothing is
 * copied); a frame fanned out to many watchers is encoded once and shared.
 */

/** The bytes every connection's queued output may hold together. */
export class OutputBudget {
  readonly limit: number;
  #used = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes queued now, over all connections. */
  get used(): number {
    return this.#used;
  }

  /** Whether `bytes` more fit. */
  fits(bytes: number): boolean {
    return this.#used + bytes <= this.limit;
  }

  take(bytes: number): void {
    this.#used += bytes;
  }

  give(bytes: number): void {
    this.#used -= bytes;
  }
}

/** Compact the queue's array once this many sent frames sit before its head. */
const COMPACT_AFTER = 1024;

/** One connection's unsent frames, charged to the shared budget until written or cleared. */
export class Outbox {
  readonly #budget: OutputBudget;
  #frames: Uint8Array[] = [];
  #head = 0;
  /** Bytes of `#frames[#head]` already written. */
  #offset = 0;
  #bytes = 0;

  constructor(budget: OutputBudget) {
    this.#budget = budget;
  }

  /** Unsent bytes. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Queues a frame (the caller checked the bounds); nothing queued is copied. */
  push(frame: Uint8Array): void {
    this.#frames.push(frame);
    this.#bytes += frame.length;
    this.#budget.take(frame.length);
  }

  /**
   * Writes what the socket takes, frame by frame; `write` returns the bytes it
   * took (fewer when the kernel's buffer is full: the rest waits for drain).
   * Returns true once everything queued is written.
   */
  flush(write: (chunk: Uint8Array) => number): boolean {
    while (this.#head < this.#frames.length) {
      const frame = this.#frames[this.#head] as Uint8Array;
      const rest = this.#offset === 0 ? frame : frame.subarray(this.#offset);
      const written = Math.max(0, write(rest));
      this.#bytes -= written;
      this.#budget.give(written);
      if (written < rest.length) {
        this.#offset += written;
        return false;
      }
      this.#head += 1;
      this.#offset = 0;
      if (this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#frames.length) {
        this.#frames = this.#frames.slice(this.#head);
        this.#head = 0;
      }
    }
    this.#frames = [];
    this.#head = 0;
    return true;
  }

  /** Drops everything unsent and gives its bytes back to the budget. */
  clear(): void {
    this.#budget.give(this.#bytes);
    this.#frames = [];
    this.#head = 0;
    this.#offset = 0;
    this.#bytes = 0;
  }
}
