/**
 * The polling baseline (`serve --mode poll --interval-ms N`): discovers containers
 * the way socket-polling agents do — list the runtimes' state every N ms and diff
 * against the registry — so benchmarks can compare it with hook events on the same
 * registry and records. A container that starts and stops between two polls is
 * never seen: that is the point of the comparison.
 */
import type { ContainerInfo } from "../container.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../registry.ts";

/** A running container as a listing shows it: its id, and the process that tells it from a later container under the same id. */
export interface Listed {
  id: string;
  pid: number;
  startTime: number | undefined;
}

/** Where the poller looks: a listing of what runs now (cheap), and the description of one container (reads its bundle and /proc). */
export interface PollSource<T extends Listed> {
  list: () => Promise<T[]>;
  /** Undefined when the container stopped in the meantime. */
  describe: (entry: T) => Promise<ContainerInfo | undefined>;
}

/** What one poll changed. */
export interface PollResult {
  added: number;
  removed: number;
}

/** How many containers one poll describes at once. */
const CONCURRENCY = 64;

const processOf = (entry: Listed): string => `${entry.pid}:${entry.startTime ?? "?"}`;

/**
 * A poller over `registry`: each call lists what runs, describes only the ids it
 * does not hold yet (or whose process changed: the container was replaced), and
 * removes the held ids the listing no longer shows.
 */
export function createPoller<T extends Listed>(registry: Registry, source: PollSource<T>): () => Promise<PollResult> {
  /** The process each id was described from. */
  const described = new Map<string, string>();
  const holds = (entry: T): boolean => {
    // Registered by us from this very process: not a hook's record, not removed since, not replaced.
    return registry.get(entry.id)?.source === "poll" && described.get(entry.id) === processOf(entry);
  };
  const describe = async (entry: T) => ({ entry, container: await source.describe(entry) });
  return async () => {
    const running = await source.list();
    const seen = new Set<string>();
    const fresh: T[] = [];
    for (const entry of running) {
      if (holds(entry)) seen.add(entry.id);
      else fresh.push(entry);
    }
    let added = 0;
    for (let i = 0; i < fresh.length; i += CONCURRENCY) {
      for (const { entry, container } of await Promise.all(fresh.slice(i, i + CONCURRENCY).map(describe))) {
        if (!container) continue;
        seen.add(container.id);
        described.set(container.id, processOf(entry));
        const { outcome } = registry.register(container, "poll");
        if (outcome === "added" || outcome === "updated") added += 1;
      }
    }
    let removed = 0;
    for (const held of registry.list()) {
      if (!seen.has(held.id) && registry.unregister(held.id)) removed += 1;
    }
    for (const id of described.keys()) if (!seen.has(id)) described.delete(id);
    return { added, removed };
  };
}

/** Polls every `intervalMs` until stopped; a poll never overlaps the previous one. */
export function startPolling<T extends Listed>(registry: Registry, source: PollSource<T>, intervalMs: number, log: Logger): { stop: () => void } {
  const poll = createPoller(registry, source);
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async (): Promise<void> => {
    try {
      const result = await poll();
      if (result.added + result.removed > 0) log("debug", "poll", { ...result });
    } catch (err) {
      log("warn", "poll failed", { error: err instanceof Error ? err.message : String(err) });
    }
    if (!stopped) timer = setTimeout(tick, intervalMs);
  };
  void tick();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
