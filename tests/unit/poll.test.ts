import { describe, expect, test } from "bun:test";
import { pollOnce, startPolling } from "../../lib/agent/poll.ts";
import type { ContainerInfo } from "../../lib/container.ts";
import { Registry } from "../../lib/registry.ts";
import { containerInfo, recordingLogger } from "./_fixtures.ts";

const ids = (registry: Registry): string[] =>
  registry
    .list()
    .map((c) => c.id)
    .sort();

describe("pollOnce()", () => {
  test("adds what the listing shows, as source poll, and removes what it no longer shows", async () => {
    const registry = new Registry();
    let listing: ContainerInfo[] = [containerInfo({ id: "a", pid: 10 }), containerInfo({ id: "b", pid: 11 })];
    expect(await pollOnce(registry, async () => listing)).toEqual({ added: 2, removed: 0 });
    expect(ids(registry)).toEqual(["a", "b"]);
    expect(registry.get("a")?.source).toBe("poll");

    listing = [containerInfo({ id: "b", pid: 11 }), containerInfo({ id: "c", pid: 12 })];
    expect(await pollOnce(registry, async () => listing)).toEqual({ added: 1, removed: 1 });
    expect(ids(registry)).toEqual(["b", "c"]);
  });

  test("an unchanged listing changes nothing and announces nothing", async () => {
    const registry = new Registry();
    const listing = [containerInfo({ id: "a", pid: 10 })];
    await pollOnce(registry, async () => listing);
    const events: string[] = [];
    registry.subscribe((e) => events.push(`${e.event}:${e.container.id}`));
    expect(await pollOnce(registry, async () => listing)).toEqual({ added: 0, removed: 0 });
    expect(events).toEqual([]);
  });

  test("an id that comes back after a poll removed it is added again", async () => {
    const registry = new Registry();
    await pollOnce(registry, async () => [containerInfo({ id: "a", pid: 10 })]);
    await pollOnce(registry, async () => []);
    await pollOnce(registry, async () => [containerInfo({ id: "a", pid: 20 })]);
    expect(registry.get("a")?.pid).toBe(20);
  });
});

describe("startPolling()", () => {
  test("keeps polling after a listing fails, and stops when told", async () => {
    const registry = new Registry();
    const { log, records } = recordingLogger();
    let calls = 0;
    const poller = startPolling(
      registry,
      async () => {
        calls += 1;
        if (calls === 1) throw new Error("state root unreadable");
        return [containerInfo({ id: "a", pid: 10 })];
      },
      5,
      log,
    );
    for (let i = 0; i < 200 && registry.size === 0; i++) await Bun.sleep(5);
    poller.stop();
    const after = calls;
    await Bun.sleep(30);
    expect(ids(registry)).toEqual(["a"]);
    expect(records.some((r) => r.level === "warn" && r.msg === "poll failed")).toBe(true);
    expect(calls).toBe(after);
  });
});
