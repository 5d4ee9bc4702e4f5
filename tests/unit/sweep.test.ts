import { describe, expect, test } from "bun:test";
import { HOST_PID_NAMESPACE_INODE, Sweeper } from "../../lib/agent/sweep.ts";
import { Registry } from "../../lib/registry.ts";
import { containerInfo, recordingLogger } from "./_fixtures.ts";

/** A /proc whose processes a test can end. */
function fakeProc(hostPidNs = true) {
  const links = new Map<string, string>([["/proc/self/ns/pid", `pid:[${hostPidNs ? HOST_PID_NAMESPACE_INODE : 4026532999}]`]]);
  const stats = new Map<number, string>();
  /** /proc/<pid>/stat: state is field 3, the start time field 22. */
  const stat = (pid: number, state: string, started: number) => `${pid} (sleep) ${state} ${"0 ".repeat(18)}${started} 0 0\n`;
  const enoent = () => Object.assign(new Error("ENOENT"), { code: "ENOENT" });
  return {
    links,
    live(pid: number, pidns: number, mntns: number, started = 5000 + pid) {
      links.set(`/proc/${pid}/ns/pid`, `pid:[${pidns}]`);
      links.set(`/proc/${pid}/ns/mnt`, `mnt:[${mntns}]`);
      stats.set(pid, stat(pid, "S", started));
    },
    /** The process exited and nobody reaped it: its mnt namespace is gone, its stat says Z. */
    zombie(pid: number) {
      links.delete(`/proc/${pid}/ns/mnt`);
      stats.set(pid, (stats.get(pid) ?? stat(pid, "S", 0)).replace(") S ", ") Z "));
    },
    readLink: (path: string): string => {
      const target = links.get(path);
      if (target === undefined) throw enoent();
      return target;
    },
    readStat: (pid: number): string => {
      if (!links.has(`/proc/${pid}/ns/pid`)) throw enoent();
      const line = stats.get(pid);
      if (line === undefined) throw enoent();
      return line;
    },
  };
}

function setup(hostPidNs = true) {
  const registry = new Registry();
  const proc = fakeProc(hostPidNs);
  const logs = recordingLogger();
  const sweeper = new Sweeper({ registry, log: logs.log, readLink: proc.readLink, readStat: proc.readStat, intervalMs: 1000 });
  const removed: string[] = [];
  registry.subscribe((e) => e.event === "remove" && removed.push(`${e.container.id}:${e.source}`));
  return { registry, proc, sweeper, logs, removed };
}

describe("Sweeper", () => {
  test("removes, with source sweep and a log line, a record whose process is gone", () => {
    const { registry, proc, sweeper, logs, removed } = setup();
    proc.live(100, 11, 12);
    proc.live(200, 21, 22);
    registry.register(containerInfo({ id: "dies", pid: 100, namespaces: { pid: 11, mnt: 12 } }), "hook");
    registry.register(containerInfo({ id: "lives", pid: 200, namespaces: { pid: 21, mnt: 22 } }), "hook");
    expect(sweeper.sweep()).toBe(0);
    proc.links.delete("/proc/100/ns/pid");
    proc.links.delete("/proc/100/ns/mnt");
    expect(sweeper.sweep()).toBe(1);
    expect(removed).toEqual(["dies:sweep"]);
    expect(registry.get("lives")).toBeDefined();
    expect(logs.records).toContainEqual({
      level: "warn",
      msg: "removed a stale record: its process is gone and no poststop came",
      fields: { id: "dies", pid: 100 },
    });
    expect(sweeper.status()).toMatchObject({ hostPidNamespace: true, swept: 1, checked: 1, unchecked: 0, warning: null });
    expect(sweeper.renderMetrics()).toContain("armor_swept_total 1");
  });

  test.each([
    ["a zombie (its mnt namespace is gone, its state Z)", (p: ReturnType<typeof fakeProc>) => p.zombie(100)],
    ["a reused pid (other namespaces)", (p: ReturnType<typeof fakeProc>) => p.live(100, 91, 92)],
    ["a pid reused in the same pid namespace (a hostPID container): another start time", (p: ReturnType<typeof fakeProc>) => p.live(100, 11, 12, 99999)],
  ])("takes %s for gone", (_what, change) => {
    const { registry, proc, sweeper } = setup();
    proc.live(100, 11, 12);
    registry.register(containerInfo({ id: "c", pid: 100, namespaces: { pid: 11, mnt: 12 } }), "hook");
    change(proc);
    expect(sweeper.sweep()).toBe(1);
  });

  test("keeps a record whose process moved itself into a new mount namespace (unshare -m in a privileged pod): it still runs", () => {
    const { registry, proc, sweeper, removed } = setup();
    proc.live(100, 11, 12);
    registry.register(containerInfo({ id: "unshared", pid: 100, namespaces: { pid: 11, mnt: 12 } }), "hook");
    proc.links.set("/proc/100/ns/mnt", "mnt:[4026533333]");
    expect(sweeper.sweep()).toBe(0);
    expect(removed).toEqual([]);
    expect(registry.get("unshared")).toBeDefined();
  });

  test("never sweeps a record whose process it could not see when it arrived", () => {
    const { registry, sweeper, removed } = setup(false);
    registry.register(containerInfo({ id: "elsewhere", pid: 300, namespaces: { pid: 31, mnt: 32 } }), "bootstrap");
    expect(sweeper.sweep()).toBe(0);
    expect(removed).toEqual([]);
    expect(sweeper.status()).toMatchObject({ hostPidNamespace: false, checked: 0, unchecked: 1 });
    expect(sweeper.status().warning).toContain("not in the host's PID namespace");
  });

  test("check() on lookup sweeps a stale record on the spot; a later poststop is harmless", () => {
    const { registry, proc, sweeper, removed } = setup();
    proc.live(100, 11, 12);
    const container = registry.register(containerInfo({ id: "c", pid: 100, namespaces: { pid: 11, mnt: 12 } }), "hook").container;
    if (!container) throw new Error("not registered");
    expect(sweeper.check(container)).toBe(true);
    proc.links.clear();
    expect(sweeper.check(container)).toBe(false);
    expect(registry.unregister("c")).toBeUndefined();
    expect(removed).toEqual(["c:sweep"]);
  });
});
