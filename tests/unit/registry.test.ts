import { describe, expect, test } from "bun:test";
import { Registry, type RegistryEvent } from "../../lib/registry.ts";
import { containerInfo } from "./_fixtures.ts";

/** A clock that advances one second per call, from a fixed start. */
function tickingClock(): () => Date {
  let t = Date.UTC(2025, 0, 1);
  return () => new Date((t += 1000));
}

function recordedRegistry(): { registry: Registry; events: Array<[RegistryEvent["event"], string, number]> } {
  const registry = new Registry(tickingClock());
  const events: Array<[RegistryEvent["event"], string, number]> = [];
  registry.subscribe(({ event, container }) => events.push([event, container.id, container.pid]));
  return { registry, events };
}

describe("Registry.register()", () => {
  test("adds a container with its source and registration time, and announces it", () => {
    const { registry, events } = recordedRegistry();
    const { outcome, container } = registry.register(containerInfo(), "hook");
    expect(outcome).toBe("added");
    expect(container).toEqual({ ...containerInfo(), source: "hook", registeredAt: "2025-01-01T00:00:01.000Z" });
    expect(registry.get("c1")).toEqual(container);
    expect(registry.size).toBe(1);
    expect(events).toEqual([["add", "c1", 4242]]);
  });

  test("is idempotent: the same registration again emits no event and keeps registeredAt", () => {
    const { registry, events } = recordedRegistry();
    const first = registry.register(containerInfo(), "hook").container;
    const again = registry.register(containerInfo(), "hook");
    expect(again.outcome).toBe("unchanged");
    expect(again.container).toBe(first);
    expect(events).toHaveLength(1);
    expect(registry.get("c1")?.registeredAt).toBe("2025-01-01T00:00:01.000Z");
  });

  test("replaces a container when a new pid arrives under the same id", () => {
    const { registry, events } = recordedRegistry();
    registry.register(containerInfo(), "hook");
    const { outcome, container } = registry.register(containerInfo({ pid: 5000, namespaces: { pid: 11, mnt: 12 } }), "hook");
    expect(outcome).toBe("updated");
    expect(container?.pid).toBe(5000);
    expect(container?.registeredAt).toBe("2025-01-01T00:00:02.000Z");
    expect(registry.size).toBe(1);
    expect(registry.lookup(11, 12)?.pid).toBe(5000);
    expect(registry.lookup(4026532001, 4026532002)).toBeUndefined();
    expect(events).toEqual([
      ["add", "c1", 4242],
      ["add", "c1", 5000],
    ]);
  });

  test("updates changed details of the same process but keeps its registeredAt", () => {
    const { registry, events } = recordedRegistry();
    registry.register(containerInfo(), "hook");
    const { outcome, container } = registry.register(containerInfo({ apparmorProfile: "other" }), "hook");
    expect(outcome).toBe("updated");
    expect(container?.apparmorProfile).toBe("other");
    expect(container?.registeredAt).toBe("2025-01-01T00:00:01.000Z");
    expect(events).toHaveLength(2);
  });

  test("never lets a bootstrap registration overwrite one a hook made", () => {
    const { registry, events } = recordedRegistry();
    const hook = registry.register(containerInfo(), "hook").container;
    const result = registry.register(containerInfo({ pid: 9999, apparmorProfile: "stale" }), "bootstrap");
    expect(result.outcome).toBe("ignored");
    expect(result.container).toBe(hook);
    expect(registry.get("c1")).toBe(hook);
    expect(events).toHaveLength(1);
  });

  test("lets a hook registration take over a bootstrap one", () => {
    const { registry } = recordedRegistry();
    registry.register(containerInfo(), "bootstrap");
    const { outcome, container } = registry.register(containerInfo(), "hook");
    expect(outcome).toBe("updated");
    expect(container?.source).toBe("hook");
  });

  test("keeps registering when a subscriber throws, and still tells the other subscribers", () => {
    const registry = new Registry(tickingClock());
    const seen: string[] = [];
    registry.subscribe(() => {
      throw new Error("subscriber bug");
    });
    registry.subscribe(({ container }) => seen.push(container.id));
    expect(registry.register(containerInfo(), "hook").outcome).toBe("added");
    expect(registry.get("c1")).toBeDefined();
    expect(seen).toEqual(["c1"]);
  });

  test("stops telling a subscriber after it unsubscribes", () => {
    const registry = new Registry(tickingClock());
    const seen: string[] = [];
    const unsubscribe = registry.subscribe(({ container }) => seen.push(container.id));
    registry.register(containerInfo({ id: "a" }), "hook");
    unsubscribe();
    registry.register(containerInfo({ id: "b" }), "hook");
    expect(seen).toEqual(["a"]);
  });
});

describe("Registry.unregister()", () => {
  test("removes a container, its index entry, and announces it", () => {
    const { registry, events } = recordedRegistry();
    registry.register(containerInfo(), "hook");
    const removed = registry.unregister("c1");
    expect(removed?.id).toBe("c1");
    expect(registry.get("c1")).toBeUndefined();
    expect(registry.lookup(4026532001, 4026532002)).toBeUndefined();
    expect(registry.size).toBe(0);
    expect(events).toEqual([
      ["add", "c1", 4242],
      ["remove", "c1", 4242],
    ]);
  });

  test("returns undefined and emits nothing for an unknown id", () => {
    const { registry, events } = recordedRegistry();
    registry.register(containerInfo(), "hook");
    expect(registry.unregister("nope")).toBeUndefined();
    expect(events).toHaveLength(1);
    expect(registry.size).toBe(1);
  });
});

describe("Registry.lookup()", () => {
  test("finds a container by its (pidns, mntns) pair", () => {
    const registry = new Registry(tickingClock());
    registry.register(containerInfo({ id: "a", namespaces: { pid: 1, mnt: 2 } }), "hook");
    registry.register(containerInfo({ id: "b", namespaces: { pid: 1, mnt: 3 } }), "hook");
    expect(registry.lookup(1, 2)?.id).toBe("a");
    expect(registry.lookup(1, 3)?.id).toBe("b");
    expect(registry.lookup(2, 1)).toBeUndefined();
  });

  test("does not index a container missing its pid or mnt namespace", () => {
    const registry = new Registry(tickingClock());
    registry.register(containerInfo({ id: "a", namespaces: { pid: 1 } }), "hook");
    expect(registry.get("a")).toBeDefined();
    expect(registry.lookup(1, 2)).toBeUndefined();
  });

  test("returns the later container when a namespace pair is reused", () => {
    const registry = new Registry(tickingClock());
    registry.register(containerInfo({ id: "old", namespaces: { pid: 1, mnt: 2 } }), "hook");
    registry.register(containerInfo({ id: "new", namespaces: { pid: 1, mnt: 2 } }), "hook");
    expect(registry.lookup(1, 2)?.id).toBe("new");
  });

  test("keeps the later container's entry when the older one with the same pair is removed", () => {
    const registry = new Registry(tickingClock());
    registry.register(containerInfo({ id: "old", namespaces: { pid: 1, mnt: 2 } }), "hook");
    registry.register(containerInfo({ id: "new", namespaces: { pid: 1, mnt: 2 } }), "hook");
    registry.unregister("old");
    expect(registry.lookup(1, 2)?.id).toBe("new");
  });

  test("keeps the later container's entry when the older one is replaced under a new pid", () => {
    const registry = new Registry(tickingClock());
    registry.register(containerInfo({ id: "old", namespaces: { pid: 1, mnt: 2 } }), "hook");
    registry.register(containerInfo({ id: "new", namespaces: { pid: 1, mnt: 2 } }), "hook");
    registry.register(containerInfo({ id: "old", pid: 77, namespaces: { pid: 5, mnt: 6 } }), "hook");
    expect(registry.lookup(1, 2)?.id).toBe("new");
    expect(registry.lookup(5, 6)?.id).toBe("old");
  });
});

describe("Registry.list()", () => {
  test("lists every container, oldest registration first", () => {
    const registry = new Registry(tickingClock());
    for (const id of ["b", "a", "c"]) registry.register(containerInfo({ id }), "hook");
    registry.unregister("a");
    expect(registry.list().map((c) => c.id)).toEqual(["b", "c"]);
  });

  test("moves a container replaced under a new pid to the end", () => {
    const registry = new Registry(tickingClock());
    for (const id of ["a", "b"]) registry.register(containerInfo({ id }), "hook");
    registry.register(containerInfo({ id: "a", pid: 5000 }), "hook");
    registry.register(containerInfo({ id: "b", apparmorProfile: "changed" }), "hook");
    expect(registry.list().map((c) => [c.id, c.registeredAt])).toEqual([
      ["b", "2025-01-01T00:00:02.000Z"],
      ["a", "2025-01-01T00:00:03.000Z"],
    ]);
  });
});

describe("Registry bounds", () => {
  const bytesOf = (info: ReturnType<typeof containerInfo>): number => Buffer.byteLength(JSON.stringify(info));

  function bounded(limits: { maxContainers?: number; maxBytes?: number }) {
    const refusals: string[] = [];
    const registry = new Registry(tickingClock(), { limits, refused: (message) => refusals.push(message) });
    const events: string[] = [];
    registry.subscribe(({ event, container }) => events.push(`${event}:${container.id}`));
    return { registry, refusals, events };
  }

  test("defaults fit the DaemonSet's 512 Mi: 10,000 containers, 32 MiB of records", () => {
    expect(new Registry().limits).toEqual({ maxContainers: 10_000, maxBytes: 32 * 1024 * 1024 });
  });

  test("refuses a container past the count bound, changes nothing, and says why once", () => {
    const { registry, refusals, events } = bounded({ maxContainers: 2 });
    registry.register(containerInfo({ id: "a" }), "hook");
    registry.register(containerInfo({ id: "b" }), "hook");
    const third = registry.register(containerInfo({ id: "c" }), "hook");
    expect(third.outcome).toBe("full");
    expect(third.container).toBeUndefined();
    expect(registry.size).toBe(2);
    expect(events).toEqual(["add:a", "add:b"]);
    expect(refusals).toEqual([third.reason ?? "no reason"]);
    expect(third.reason).toMatch(
      /^the registry is full \(2 containers, \d+ bytes; bounds 2 containers, \d+ bytes\): hook registration of c \(\d+ bytes\) not applied$/,
    );
    // An update of a held id needs no new slot.
    expect(registry.register(containerInfo({ id: "a", pid: 7 }), "hook").outcome).toBe("updated");
    registry.unregister("b");
    expect(registry.register(containerInfo({ id: "c" }), "bootstrap").outcome).toBe("added");
  });

  test("refuses what passes the byte bound, a growing update included, and counts what is held", () => {
    const small = containerInfo({ id: "s" });
    const { registry, refusals } = bounded({ maxBytes: bytesOf(small) * 2 + 10 });
    registry.register(small, "hook");
    registry.register(containerInfo({ id: "t" }), "hook");
    expect(registry.bytes).toBe(bytesOf(small) + bytesOf(containerInfo({ id: "t" })));
    const big = containerInfo({ id: "u", image: "x".repeat(4000) });
    expect(registry.register(big, "hook").outcome).toBe("full");
    expect(registry.register(containerInfo({ id: "s", image: "x".repeat(4000) }), "hook").outcome).toBe("full");
    expect(registry.get("s")).toMatchObject({ image: null });
    expect(refusals).toHaveLength(2);
    registry.unregister("t");
    expect(registry.bytes).toBe(bytesOf(small));
  });

  test("3,600 records of ~32 KiB stop at the byte bound instead of growing", () => {
    const { registry, refusals } = bounded({});
    const bulky = (i: number) =>
      containerInfo({
        id: `b${i}`,
        bundle: "b".repeat(4000),
        image: "i".repeat(4000),
        containerName: "n".repeat(4000),
        sandboxId: "s".repeat(4000),
        apparmorProfile: "a".repeat(4000),
        pod: { name: "p".repeat(4000), namespace: "q".repeat(4000), uid: "u".repeat(4000) },
      });
    for (let i = 0; i < 3600; i++) registry.register(bulky(i), "hook");
    expect(registry.bytes).toBeLessThanOrEqual(32 * 1024 * 1024);
    expect(registry.size).toBeLessThan(3600);
    expect(refusals.length).toBe(3600 - registry.size);
  });
});
