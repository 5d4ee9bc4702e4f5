import { describe, expect, test } from "bun:test";
import { createPoller, startPolling, type Listed, type PollResult, type PollSource } from "../../lib/agent/poll.ts";
import { describeEntry, listLiveEntries } from "../../lib/bootstrap/enumerate.ts";
import type { StateRoot } from "../../lib/bootstrap/state-roots.ts";
import type { ContainerInfo } from "../../lib/container.ts";
import { Registry } from "../../lib/registry.ts";
import { FakeHost } from "./_fake-host.ts";
import { containerInfo, recordingLogger } from "./_fixtures.ts";

const ids = (registry: Registry): string[] =>
  registry
    .list()
    .map((c) => c.id)
    .sort();

/** A listed container and the record describing it gives. */
type Entry = Listed & { info: ContainerInfo };

const running = (id: string, pid: number, startTime = 1): Entry => ({ id, pid, startTime, info: containerInfo({ id, pid }) });

/** A source whose listing the test sets, counting describe calls by id; ids in `exiting` stop while described. */
class FakeSource implements PollSource<Entry> {
  listing: Entry[] = [];
  readonly described: string[] = [];
  readonly exiting = new Set<string>();
  list = async (): Promise<Entry[]> => this.listing;
  describe = async (entry: Entry): Promise<ContainerInfo | undefined> => {
    this.described.push(entry.id);
    return this.exiting.has(entry.id) ? undefined : entry.info;
  };
}

function poller(): { registry: Registry; source: FakeSource; poll: () => Promise<PollResult> } {
  const registry = new Registry();
  const source = new FakeSource();
  return { registry, source, poll: createPoller(registry, source) };
}

describe("createPoller()", () => {
  test("adds what the listing shows, as source poll, and removes what it no longer shows", async () => {
    const { registry, source, poll } = poller();
    source.listing = [running("a", 10), running("b", 11)];
    expect(await poll()).toEqual({ added: 2, removed: 0 });
    expect(ids(registry)).toEqual(["a", "b"]);
    expect(registry.get("a")?.source).toBe("poll");

    source.listing = [running("b", 11), running("c", 12)];
    expect(await poll()).toEqual({ added: 1, removed: 1 });
    expect(ids(registry)).toEqual(["b", "c"]);
  });

  test("an unchanged listing changes nothing and announces nothing", async () => {
    const { registry, source, poll } = poller();
    source.listing = [running("a", 10)];
    await poll();
    const events: string[] = [];
    registry.subscribe((e) => events.push(`${e.event}:${e.container.id}`));
    expect(await poll()).toEqual({ added: 0, removed: 0 });
    expect(events).toEqual([]);
  });

  test("describes only the ids it does not hold yet", async () => {
    const { source, poll } = poller();
    source.listing = [running("a", 10), running("b", 11)];
    await poll();
    await poll();
    source.listing = [running("a", 10), running("b", 11), running("c", 12)];
    await poll();
    await poll();
    expect(source.described).toEqual(["a", "b", "c"]);
  });

  test("re-describes an id whose container was replaced: another pid", async () => {
    const { registry, source, poll } = poller();
    source.listing = [running("a", 10)];
    await poll();
    source.listing = [running("a", 20)];
    expect(await poll()).toEqual({ added: 1, removed: 0 });
    expect(source.described).toEqual(["a", "a"]);
    expect(registry.get("a")?.pid).toBe(20);
  });

  test("re-describes an id whose container was replaced: same pid, another start time", async () => {
    const { registry, source, poll } = poller();
    source.listing = [running("a", 10, 1000)];
    await poll();
    source.listing = [{ ...running("a", 10, 2000), info: containerInfo({ id: "a", pid: 10, namespaces: { pid: 7, mnt: 8 } }) }];
    expect(await poll()).toEqual({ added: 1, removed: 0 });
    expect(source.described).toEqual(["a", "a"]);
    expect(registry.lookup(7, 8)?.id).toBe("a");
  });

  test("re-describes an id something else registered or removed meanwhile", async () => {
    const { registry, source, poll } = poller();
    source.listing = [running("a", 10)];
    await poll();
    registry.register(containerInfo({ id: "a", pid: 10 }), "hook");
    await poll();
    expect(registry.get("a")?.source).toBe("poll");
    registry.unregister("a");
    await poll();
    expect(ids(registry)).toEqual(["a"]);
    expect(source.described).toEqual(["a", "a", "a"]);
  });

  test("does not hold a container that stops while it is described, and tries it again next poll", async () => {
    const { registry, source, poll } = poller();
    source.listing = [running("a", 10)];
    await poll();
    source.listing = [running("a", 20)];
    source.exiting.add("a");
    expect(await poll()).toEqual({ added: 0, removed: 1 });
    expect(ids(registry)).toEqual([]);
    source.exiting.clear();
    expect(await poll()).toEqual({ added: 1, removed: 0 });
    expect(source.described).toEqual(["a", "a", "a"]);
  });

  test("an id that comes back after a poll removed it is added again", async () => {
    const { registry, source, poll } = poller();
    source.listing = [running("a", 10)];
    await poll();
    source.listing = [];
    await poll();
    source.listing = [running("a", 20)];
    await poll();
    expect(registry.get("a")?.pid).toBe(20);
  });
});

describe("createPoller() over the state roots, wired as serve --mode poll wires it", () => {
  const RUNC: StateRoot = { format: "runc", path: "/run/runc" };
  const wired = (host: FakeHost, registry: Registry) => {
    const { log } = recordingLogger();
    return createPoller(registry, { list: () => listLiveEntries([RUNC], host.deps, log), describe: (entry) => describeEntry(entry, host.deps, log) });
  };
  const bundleReads = (host: FakeHost): number => host.reads.filter((path) => path.endsWith("/config.json")).length;

  test("a poll of unchanged containers reads no bundle and no namespace link", async () => {
    const host = new FakeHost()
      .process(10, 1)
      .process(11, 1)
      .runc("/run/runc", "a", 10, 1)
      .runc("/run/runc", "b", 11, 1)
      .bundle("/bundles/a")
      .bundle("/bundles/b");
    const registry = new Registry();
    const poll = wired(host, registry);
    await poll();
    const linkReads = host.linkReads.length;
    expect([bundleReads(host), linkReads > 0]).toEqual([2, true]);
    await poll();
    await poll();
    expect([bundleReads(host), host.linkReads.length]).toEqual([2, linkReads]);
    expect(ids(registry)).toEqual(["a", "b"]);
  });

  test("catches a container replaced under the same id, and drops one whose process exited", async () => {
    const host = new FakeHost()
      .process(10, 1)
      .process(11, 1)
      .runc("/run/runc", "a", 10, 1)
      .runc("/run/runc", "b", 11, 1)
      .bundle("/bundles/a")
      .bundle("/bundles/b");
    const registry = new Registry();
    const poll = wired(host, registry);
    await poll();
    host.process(30, 9).runc("/run/runc", "a", 30, 9);
    host.files.delete("/proc/11/stat");
    expect(await poll()).toEqual({ added: 1, removed: 1 });
    expect(registry.get("a")).toMatchObject({ pid: 30, namespaces: { pid: 301, mnt: 302 } });
    expect(bundleReads(host)).toBe(3);
  });

  test("catches a pid reused for a new container under the same id (same pid, another start time)", async () => {
    const host = new FakeHost().process(10, 1).runc("/run/runc", "a", 10, 1).bundle("/bundles/a");
    const registry = new Registry();
    const poll = wired(host, registry);
    await poll();
    host.process(10, 2).runc("/run/runc", "a", 10, 2);
    host.links.set("/proc/10/ns/pid", "pid:[777]");
    await poll();
    expect(registry.get("a")?.namespaces.pid).toBe(777);
  });
});

describe("startPolling()", () => {
  test("keeps polling after a listing fails, and stops when told", async () => {
    const registry = new Registry();
    const { log, records } = recordingLogger();
    let calls = 0;
    const source = new FakeSource();
    source.list = async () => {
      calls += 1;
      if (calls === 1) throw new Error("state root unreadable");
      return [running("a", 10)];
    };
    const poller = startPolling(registry, source, 5, log);
    for (let i = 0; i < 200 && registry.size === 0; i++) await Bun.sleep(5);
    poller.stop();
    const after = calls;
    await Bun.sleep(30);
    expect(ids(registry)).toEqual(["a"]);
    expect(records.some((r) => r.level === "warn" && r.msg === "poll failed")).toBe(true);
    expect(calls).toBe(after);
  });
});
