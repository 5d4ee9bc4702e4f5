/**
 * The ordering rules between live hooks and the pre-existing (bootstrap) batch:
 * whatever order their messages reach the agent in, the registry ends up holding
 * exactly the containers that are alive, with the newest data.
 */
import { describe, expect, test } from "bun:test";
import type { ContainerInfo } from "../../lib/container.ts";
import { MAX_TOMBSTONES, Registry, TOMBSTONE_TTL_MS, type RegistryEvent } from "../../lib/registry.ts";
import { containerInfo, seededRandom } from "./_fixtures.ts";

/** A clock the test moves by hand. */
function manualClock(): { now: () => Date; advance: (ms: number) => void } {
  let t = Date.UTC(2025, 0, 1);
  return { now: () => new Date(t), advance: (ms) => void (t += ms) };
}

function recorded(now = manualClock().now): { registry: Registry; events: Array<[RegistryEvent["event"], string, number]> } {
  const registry = new Registry(now);
  const events: Array<[RegistryEvent["event"], string, number]> = [];
  registry.subscribe(({ event, container }) => events.push([event, container.id, container.pid]));
  return { registry, events };
}

const stale = containerInfo({ id: "web", pid: 100 });
const fresh = containerInfo({ id: "web", pid: 200, apparmorProfile: "armor-new" });

describe("a container removed by a live poststop", () => {
  test("is not re-added by a stale pre-existing entry that arrives after the poststop", () => {
    const { registry, events } = recorded();
    expect(registry.unregister("web")).toBeUndefined();
    expect(registry.register(stale, "bootstrap")).toEqual({ outcome: "ignored", container: undefined });
    expect(registry.get("web")).toBeUndefined();
    expect(events).toEqual([]);
  });

  test("is gone when the stale pre-existing entry arrived before the poststop", () => {
    const { registry, events } = recorded();
    expect(registry.register(stale, "bootstrap").outcome).toBe("added");
    expect(registry.unregister("web")?.pid).toBe(100);
    expect(registry.register(stale, "bootstrap").outcome).toBe("ignored");
    expect(registry.size).toBe(0);
    expect(events).toEqual([
      ["add", "web", 100],
      ["remove", "web", 100],
    ]);
  });

  test("that a live hook registered is not re-added by the batch either", () => {
    const { registry } = recorded();
    registry.register(fresh, "hook");
    registry.unregister("web");
    expect(registry.register(fresh, "bootstrap").outcome).toBe("ignored");
    expect(registry.size).toBe(0);
  });

  test("can come back through a live hook under the same id (a restart), and the batch still cannot touch it", () => {
    const { registry } = recorded();
    registry.unregister("web");
    expect(registry.register(fresh, "hook").outcome).toBe("added");
    expect(registry.register(stale, "bootstrap")).toEqual({ outcome: "ignored", container: registry.get("web") });
    expect(registry.get("web")).toMatchObject({ pid: 200, source: "hook" });
    // Restarted and stopped again: the tombstone is back.
    registry.unregister("web");
    expect(registry.register(fresh, "bootstrap").outcome).toBe("ignored");
  });
});

describe("a live registration that arrives during the batch", () => {
  test("is not overwritten by an older pre-existing entry of the same id", () => {
    const { registry, events } = recorded();
    const live = registry.register(fresh, "hook").container;
    const answer = registry.register(stale, "bootstrap");
    expect(answer.outcome).toBe("ignored");
    expect(answer.container).toBe(live);
    expect(registry.get("web")).toBe(live);
    expect(events).toEqual([["add", "web", 200]]);
  });

  test("is not overwritten even by a pre-existing entry with identical data", () => {
    const { registry } = recorded();
    registry.register(fresh, "hook");
    expect(registry.register(fresh, "bootstrap").outcome).toBe("ignored");
    expect(registry.get("web")?.source).toBe("hook");
  });

  test("takes over a pre-existing entry that arrived first", () => {
    const { registry, events } = recorded();
    registry.register(stale, "bootstrap");
    const answer = registry.register(fresh, "hook");
    expect(answer.outcome).toBe("updated");
    expect(registry.get("web")).toMatchObject({ pid: 200, source: "hook", apparmorProfile: "armor-new" });
    expect(events).toEqual([
      ["add", "web", 100],
      ["add", "web", 200],
    ]);
  });

  test("of other containers is left alone by the batch", () => {
    const { registry } = recorded();
    registry.register(containerInfo({ id: "live", pid: 7 }), "hook");
    registry.register(containerInfo({ id: "old", pid: 8, namespaces: { pid: 11, mnt: 12 } }), "bootstrap");
    expect(registry.list().map((c) => [c.id, c.source])).toEqual([
      ["live", "hook"],
      ["old", "bootstrap"],
    ]);
  });
});

describe("a poststop for a container the agent never held", () => {
  test("does no harm: answers undefined, announces nothing, keeps the others", () => {
    const { registry, events } = recorded();
    registry.register(containerInfo({ id: "other" }), "hook");
    events.length = 0;
    expect(registry.unregister("ghost")).toBeUndefined();
    expect(events).toEqual([]);
    expect(registry.list().map((c) => c.id)).toEqual(["other"]);
    expect(registry.lookup(4026532001, 4026532002)?.id).toBe("other");
  });

  test("does not stop a later live hook from registering that id", () => {
    const { registry } = recorded();
    registry.unregister("ghost");
    expect(registry.register(containerInfo({ id: "ghost" }), "hook").outcome).toBe("added");
  });
});

describe("tombstones", () => {
  test(`refuse a pre-existing entry until ${TOMBSTONE_TTL_MS} ms after the poststop, then let it through`, () => {
    const clock = manualClock();
    const { registry } = recorded(clock.now);
    registry.unregister("web");
    clock.advance(TOMBSTONE_TTL_MS - 1);
    expect(registry.register(stale, "bootstrap").outcome).toBe("ignored");
    clock.advance(1);
    expect(registry.register(stale, "bootstrap").outcome).toBe("added");
  });

  test("count from the latest poststop of an id", () => {
    const clock = manualClock();
    const { registry } = recorded(clock.now);
    registry.unregister("web");
    clock.advance(TOMBSTONE_TTL_MS - 10);
    registry.unregister("web");
    clock.advance(20);
    expect(registry.register(stale, "bootstrap").outcome).toBe("ignored");
  });

  test(`are kept for at most ${MAX_TOMBSTONES} ids, forgetting the oldest first`, () => {
    const { registry } = recorded();
    for (let i = 0; i < MAX_TOMBSTONES; i++) registry.unregister(`gone-${i}`);
    // Removed again: now the newest, so it outlives gone-1.
    registry.unregister("gone-0");
    registry.unregister("one-more");
    expect(registry.register(containerInfo({ id: "gone-1" }), "bootstrap").outcome).toBe("added");
    expect(registry.register(containerInfo({ id: "gone-2", pid: 2 }), "bootstrap").outcome).toBe("ignored");
    expect(registry.register(containerInfo({ id: "gone-0", pid: 3 }), "bootstrap").outcome).toBe("ignored");
    expect(registry.register(containerInfo({ id: "one-more", pid: 4 }), "bootstrap").outcome).toBe("ignored");
  });
});

// ---------------------------------------------------------------------------
// Randomized interleavings: a small model of a node (containers created,
// registered by their createRuntime hook, stopped, unregistered by poststop,
// ids reused as podman restart does) while the bootstrap fork lists the state
// root, reads each entry at its own time and sends it; entries reach the agent
// late and in any order among the live messages.

type Phase = "created" | "running" | "stopped";
interface Instance {
  pid: number;
  phase: Phase;
  /** Created while the agent was up, so its createRuntime hook registered it. */
  live: boolean;
}

interface Simulation {
  registry: Registry;
  /** What is alive at the end: id → "pid source". */
  truth: Map<string, string>;
  steps: number;
  /** What the registry answered to the pre-existing entries. */
  outcomes: Record<string, number>;
}

const MAX_STEPS = 1000;

function info(id: string, pid: number): ContainerInfo {
  return containerInfo({ id, pid, bundle: `/run/bundles/${id}`, namespaces: { pid: pid * 2, mnt: pid * 2 + 1 } });
}

function simulate(seed: number): Simulation {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const registry = new Registry(() => new Date(Date.UTC(2025, 0, 1)));
  const node = new Map<string, Instance>();
  // Few ids, so restarts under the same id race with entries in flight.
  const ids = Array.from({ length: 3 + Math.floor(random() * 8) }, (_, i) => `c${i}`);
  let nextPid = 1000;
  for (const id of ids) if (random() < 0.7) node.set(id, { pid: nextPid++, phase: "running", live: false });

  // The node churns for a while after the fork lists the root; many entries reach the
  // agent only once it has calmed down, so their mistakes would be the last word.
  const snapshotAt = 1 + Math.floor(random() * 20);
  const busyUntil = snapshotAt + 10 + Math.floor(random() * 60);
  let listing: string[] | undefined;
  const inFlight: ContainerInfo[] = [];
  const outcomes: Record<string, number> = {};
  const withPhase = (phase: Phase): string[] => [...node].filter(([, c]) => c.phase === phase).map(([id]) => id);
  const instance = (id: string): Instance => node.get(id) as Instance;
  let step = 0;
  for (; step < MAX_STEPS; step++) {
    if (step === snapshotAt) listing = [...node.keys()];
    const busy = step < busyUntil;
    const free = ids.filter((id) => !node.has(id));
    const created = withPhase("created");
    const running = withPhase("running");
    const stopped = withPhase("stopped");
    const list = listing;
    const actions: Array<[weight: number, act: () => void]> = [];
    if (busy && free.length > 0) actions.push([1, () => node.set(pick(free), { pid: nextPid++, phase: "created", live: true })]);
    if (created.length > 0) {
      actions.push([
        1,
        () => {
          const id = pick(created);
          registry.register(info(id, instance(id).pid), "hook");
          instance(id).phase = "running";
        },
      ]);
    }
    if (busy && running.length > 0) actions.push([0.7, () => void (instance(pick(running)).phase = "stopped")]);
    if (stopped.length > 0) {
      actions.push([
        1,
        () => {
          const id = pick(stopped);
          registry.unregister(id);
          node.delete(id);
        },
      ]);
    }
    if (list && list.length > 0) {
      actions.push([
        0.5,
        () => {
          // The fork reads the next listed entry, and sends it only if its process is alive.
          const id = list.shift() as string;
          const c = node.get(id);
          if (c && c.phase !== "stopped") inFlight.push(info(id, c.pid));
        },
      ]);
    }
    if (inFlight.length > 0) {
      actions.push([
        busy ? 0.1 : 1,
        () => {
          const [entry] = inFlight.splice(Math.floor(random() * inFlight.length), 1);
          const { outcome } = registry.register(entry as ContainerInfo, "bootstrap");
          outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        },
      ]);
    }
    if (actions.length === 0) break;
    let r = random() * actions.reduce((sum, [w]) => sum + w, 0);
    for (const [weight, act] of actions) {
      r -= weight;
      if (r < 0) {
        act();
        break;
      }
    }
  }
  const truth = new Map([...node].filter(([, c]) => c.phase === "running").map(([id, c]) => [id, `${c.pid} ${c.live ? "hook" : "bootstrap"}`]));
  return { registry, truth, steps: step, outcomes };
}

const SEEDS = Array.from({ length: 60 }, (_, i) => i * 7919 + 1);

describe("any interleaving of live hooks and the pre-existing batch", () => {
  test.each(SEEDS)("ends with exactly the live containers, each from its newest source (seed %d)", (seed) => {
    const { registry, truth, steps } = simulate(seed);
    expect(steps).toBeLessThan(MAX_STEPS);
    expect(new Map(registry.list().map((c) => [c.id, `${c.pid} ${c.source}`]))).toEqual(truth);
    for (const c of registry.list()) expect(registry.lookup(c.namespaces.pid ?? 0, c.namespaces.mnt ?? 0)?.id).toBe(c.id);
  });

  test("the model reaches the racy orders: entries both accepted and refused as stale", () => {
    const total: Record<string, number> = {};
    for (const seed of SEEDS) {
      for (const [outcome, n] of Object.entries(simulate(seed).outcomes)) total[outcome] = (total[outcome] ?? 0) + n;
    }
    expect(total.added ?? 0).toBeGreaterThan(30);
    expect(total.ignored ?? 0).toBeGreaterThan(30);
  });
});
