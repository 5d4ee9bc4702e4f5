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
