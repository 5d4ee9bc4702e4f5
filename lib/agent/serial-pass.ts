/**
 * A pass over a directory (the spool) that runs at start and
 * then on a timer: passes never overlap, a call made while one runs waits for it,
 * and a tick skips while one runs.
 */
const ignore = (): void => {};

export class SerialPass<T> {
  readonly #pass: () => Promise<T>;
  #running: Promise<T> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(pass: () => Promise<T>) {
    this.#pass = pass;
  }

  /** Whether a pass is running now. */
  get busy(): boolean {
    return this.#running !== undefined;
  }

  /** Runs a pass once the one running (if any) has ended. */
  run(): Promise<T> {
    const previous = this.#running;
    const next = (previous ? previous.then(ignore, ignore) : Promise.resolve()).then(this.#pass);
    this.#running = next;
    // Cleared by the pass it was set for, whether it succeeded or failed: a later tick runs again.
    void next.then(ignore, ignore).then(() => {
      if (this.#running === next) this.#running = undefined;
    });
    return next;
  }

  /** Runs a pass every `intervalMs`, skipping a tick while one still runs. */
  start(intervalMs: number): void {
    this.stop();
    this.#timer = setInterval(() => {
      if (!this.busy) this.run().catch(ignore);
    }, intervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
