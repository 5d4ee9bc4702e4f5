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

/** Lists the containers running now (the bootstrap's enumeration of state roots). */
export type ListContainers = () => Promise<ContainerInfo[]>;

/** What one poll changed. */
export interface PollResult {
  added: number;
  removed: number;
}

/** Brings the registry in line with one listing: new ids added, vanished ids removed. */
export async function pollOnce(registry: Registry, list: ListContainers): Promise<PollResult> {
  const running = await list();
  const seen = new Set<string>();
  let added = 0;
  for (const container of running) {
    seen.add(container.id);
    const { outcome } = registry.register(container, "poll");
    if (outcome === "added" || outcome === "updated") added += 1;
  }
  let removed = 0;
  for (const held of registry.list()) {
    if (!seen.has(held.id) && registry.unregister(held.id)) removed += 1;
  }
  return { added, removed };
}

/** Polls every `intervalMs` until stopped; a poll never overlaps the previous one. */
export function startPolling(registry: Registry, list: ListContainers, intervalMs: number, log: Logger): { stop: () => void } {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async (): Promise<void> => {
    try {
      const result = await pollOnce(registry, list);
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
