import { describe, expect, test } from "bun:test";
import { Registry } from "../../lib/registry.ts";
import { containerInfo } from "./_fixtures.ts";

describe("Registry revisions", () => {
  test("numbers every change 1, 2, 3… and leaves the revision alone when nothing changes", () => {
    const registry = new Registry();
    const revs: number[] = [];
    registry.subscribe((event) => revs.push(event.rev));
    expect(registry.rev).toBe(0);
    registry.register(containerInfo({ id: "a" }), "hook");
    registry.register(containerInfo({ id: "a" }), "hook");
    registry.register(containerInfo({ id: "b" }), "bootstrap");
    registry.unregister("a");
    registry.unregister("a");
    expect(revs).toEqual([1, 2, 3]);
    expect(registry.rev).toBe(3);
  });

  test("a snapshot is everything held at the current revision", () => {
    const registry = new Registry();
    registry.register(containerInfo({ id: "a" }), "hook");
    registry.register(containerInfo({ id: "b" }), "hook");
    registry.unregister("a");
    const { rev, containers } = registry.snapshot();
    expect(rev).toBe(3);
    expect(containers.map((c) => c.id)).toEqual(["b"]);
  });

  test("each registry has its own epoch", () => {
    expect(new Registry().epoch).toMatch(/^[0-9a-f]{16}$/);
    expect(new Registry().epoch).not.toBe(new Registry().epoch);
  });

  test("a remove says what removed the container", () => {
    const registry = new Registry();
    const sources: string[] = [];
    registry.subscribe((event) => event.event === "remove" && sources.push(event.source));
    for (const id of ["a", "b", "c"]) registry.register(containerInfo({ id }), "hook");
    registry.unregister("a");
    registry.unregister("b", "sweep");
    registry.unregister("c", "gate");
    expect(sources).toEqual(["unregister", "sweep", "gate"]);
  });
});

describe("Registry.changesSince()", () => {
  test("gives exactly the changes after a revision, oldest first", () => {
    const registry = new Registry();
    registry.register(containerInfo({ id: "a" }), "hook");
    registry.register(containerInfo({ id: "b" }), "hook");
    registry.unregister("a");
    expect(registry.changesSince(1)?.map((e) => [e.event, e.rev, e.container.id])).toEqual([
      ["add", 2, "b"],
      ["remove", 3, "a"],
    ]);
    expect(registry.changesSince(3)).toEqual([]);
    expect(registry.changesSince(0)).toHaveLength(3);
  });

  test("keeps a bounded history: older revisions need a snapshot", () => {
    const registry = new Registry(undefined, { historySize: 4 });
    for (let i = 0; i < 10; i++) registry.register(containerInfo({ id: `c${i}` }), "hook");
    expect(registry.changesSince(5)).toBeUndefined();
    expect(registry.changesSince(6)?.map((e) => e.rev)).toEqual([7, 8, 9, 10]);
    expect(registry.changesSince(9)?.map((e) => e.container.id)).toEqual(["c9"]);
  });

  test("keeps the history within its bytes too: a resume beyond them gets a snapshot", () => {
    const registry = new Registry(undefined, { historyBytes: 3 * JSON.stringify(containerInfo({ id: "c0" })).length });
    for (let i = 0; i < 10; i++) registry.register(containerInfo({ id: `c${i}` }), "hook");
    expect(registry.changesSince(6)).toBeUndefined();
    expect(registry.changesSince(7)?.map((e) => e.rev)).toEqual([8, 9, 10]);
  });

  test.each([[-1], [4], [1.5]])("refuses revision %p, which this registry never reached", (rev) => {
    const registry = new Registry();
    for (const id of ["a", "b", "c"]) registry.register(containerInfo({ id }), "hook");
    expect(registry.changesSince(rev)).toBeUndefined();
  });
});

describe("Registry.lookupCgroup()", () => {
  test("finds a container by its cgroup id, and forgets it when the container goes", () => {
    const registry = new Registry();
    registry.register(containerInfo({ id: "a", cgroup: { path: "/a", id: 901 } }), "hook");
    registry.register(containerInfo({ id: "b", cgroup: { path: "/b", id: null } }), "hook");
    expect(registry.lookupCgroup(901)?.id).toBe("a");
    registry.unregister("a");
    expect(registry.lookupCgroup(901)).toBeUndefined();
  });

  test("a later container owns a reused cgroup id, and removing the older one leaves it", () => {
    const registry = new Registry();
    registry.register(containerInfo({ id: "old", cgroup: { path: "/x", id: 5 } }), "hook");
    registry.register(containerInfo({ id: "new", cgroup: { path: "/x", id: 5 } }), "hook");
    registry.unregister("old");
    expect(registry.lookupCgroup(5)?.id).toBe("new");
  });
});
