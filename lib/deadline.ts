/**
 * One deadline for one promise. The hook's client imports this on every
 * container's start, so it imports nothing and does nothing at load.
 */

/** Settles as `promise` does, or rejects with `onTimeout()` after `ms`; the timer never outlives the race. */
export function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  // race() subscribes to `promise`, so a rejection after the deadline is handled, not reported.
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Settles as `promise` does, or rejects with `onAbort()` once `signal` aborts: how
 * one AbortSignal (the hook's --timeout-ms) bounds a step that cannot be cancelled.
 * Nothing is left listening on `signal` after the race.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, onAbort: () => Error): Promise<T> {
  if (signal.aborted) return Promise.reject(onAbort());
  let listener: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    listener = () => reject(onAbort());
    signal.addEventListener("abort", listener, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() => signal.removeEventListener("abort", listener as () => void));
}
