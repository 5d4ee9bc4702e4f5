/**
 * The settle pass: one more look at runtime state, some seconds after the agent
 * came up, adding what it does not hold. It closes a window of a restart: a
 * container whose createRuntime hook was answered by the previous agent (so it is
 * not in the spool) but whose runtime had not yet written its state when this agent
 * enumerated — runc writes state.json only once all createRuntime hooks have
 * returned, and any hook after ours delays that by up to its own timeout. Additive
 * only: it never removes, never replaces a hook's record (a pre-existing record
 * never does), and a container removed meanwhile stays removed (tombstones).
 */
import type { ContainerInfo } from "../container.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../registry.ts";

export { DEFAULT_SETTLE_MS } from "../bootstrap/state-roots.ts";

/** Where the pass looks: the live containers (cheap), and the description of one. */
export interface SettleSource<T extends { id: string }> {
  list: () => Promise<T[]>;
  /** Undefined when the container stopped in the meantime. */
  describe: (entry: T) => Promise<ContainerInfo | undefined>;
}

/** Registers, as pre-existing, every live container `registry` does not hold; returns how many were added. */
export async function settlePass<T extends { id: string }>(registry: Registry, source: SettleSource<T>): Promise<number> {
  let added = 0;
  for (const entry of await source.list()) {
    if (registry.get(entry.id)) continue;
    const container = await source.describe(entry);
    if (container && registry.register(container, "bootstrap").outcome === "added") added += 1;
  }
  return added;
}

/** Runs the pass once, `delayMs` after now and not before `ready`; logs what it added. */
export function scheduleSettlePass<T extends { id: string }>(
  registry: Registry,
  source: SettleSource<T>,
  options: { delayMs: number; ready: () => Promise<void>; log: Logger; found?: (count: number) => void },
): { stop: () => void } {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = async (): Promise<void> => {
    await options.ready();
    if (stopped) return;
    try {
      const added = await settlePass(registry, source);
      // A container found here ran unattributed since the restart: worth a warning each time.
      if (added > 0) {
        options.log("warn", "the settle pass found running containers the agent did not hold", { added, afterMs: options.delayMs });
        options.found?.(added);
      } else options.log("debug", "settle pass: nothing missing");
    } catch (err) {
      options.log("warn", "settle pass failed", { error: err instanceof Error ? err.message : String(err) });
    }
  };
  timer = setTimeout(() => void run(), options.delayMs);
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
