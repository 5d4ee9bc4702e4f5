import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { UnixSocketListener } from "bun";
import { join } from "node:path";
import { readlinkSync } from "node:fs";
import { getCommand, listCommand, lookupCommand, watchCommand, type WatchCommandOptions } from "../../lib/agent/commands.ts";
import { formatContainer, formatTable } from "../../lib/agent/format.ts";
import { Registry } from "../../lib/registry.ts";
import { serve } from "../../lib/agent/server.ts";
import { containerInfo, recordingLogger, rejectionOf, tempDir, until } from "./_fixtures.ts";

let dir: { dir: string; remove: () => void };
let socket: string;
let registry: Registry;
let listener: UnixSocketListener<unknown>;
let printed: string[];
const print = (line: string): void => {
  printed.push(line);
};

beforeEach(() => {
  dir = tempDir();
  socket = join(dir.dir, "agent.sock");
  registry = new Registry(() => new Date("2025-01-01T00:00:00.000Z"));
  listener = serve({ socketPath: socket, registry, info: { version: "t", startedAt: new Date() }, log: recordingLogger().log });
  printed = [];
  registry.register(containerInfo({ id: "a", namespaces: { pid: 11, mnt: 12 } }), "hook");
  registry.register(containerInfo({ id: "b", pid: 5, namespaces: { pid: 21, mnt: 22 } }), "bootstrap");
});

afterEach(() => {
  listener.stop(true);
  dir.remove();
});

describe("listCommand()", () => {
  test("prints the table of every container and returns them", async () => {
    const containers = await listCommand(socket, 2000, false, print);
    expect(containers.map((c) => c.id)).toEqual(["a", "b"]);
    expect(printed).toEqual([formatTable(registry.list())]);
  });

  test("prints JSON with --json", async () => {
    await listCommand(socket, 2000, true, print);
    expect(printed).toHaveLength(1);
    expect(JSON.parse(printed[0] ?? "")).toEqual(registry.list());
  });

  test("fails with E_AGENT_UNREACHABLE when no agent listens", async () => {
    const err = await rejectionOf(listCommand(join(dir.dir, "absent.sock"), 2000, false, print));
    expect(err.code).toBe("E_AGENT_UNREACHABLE");
    expect(err.message).toStartWith(`cannot reach agent at ${join(dir.dir, "absent.sock")}: `);
    expect(printed).toEqual([]);
  });
});

describe("getCommand()", () => {
  test("prints one container", async () => {
    const container = await getCommand(socket, 2000, "b", false, print);
    expect(registry.get("b")).toEqual(container);
    expect(printed).toEqual([formatContainer(container)]);
  });

  test("prints JSON with --json", async () => {
    await getCommand(socket, 2000, "a", true, print);
    expect(JSON.parse(printed[0] ?? "")).toMatchObject({ id: "a", source: "hook" });
  });

  test("fails with E_NOT_FOUND for an unknown id and prints nothing", async () => {
    const err = await rejectionOf(getCommand(socket, 2000, "nope", false, print));
    expect(err.code).toBe("E_NOT_FOUND");
    expect(err.message).toBe('the agent holds no container "nope"');
    expect(printed).toEqual([]);
  });

  test("fails with E_AGENT_REJECTED for an id the agent refuses", async () => {
    const err = await rejectionOf(getCommand(socket, 2000, "no/slashes", false, print));
    expect(err.code).toBe("E_AGENT_REJECTED");
    expect(err.message).toContain("E_INVALID_REQUEST");
  });
});

describe("lookupCommand()", () => {
  test("prints the container owning a namespace pair", async () => {
    const container = await lookupCommand(socket, 2000, { pidns: "21", mntns: "22" }, false, print);
    expect(container.id).toBe("b");
    expect(printed).toEqual([formatContainer(container)]);
  });

  test("fails with E_NOT_FOUND when no container owns the pair", async () => {
    const err = await rejectionOf(lookupCommand(socket, 2000, { pidns: "11", mntns: "22" }, false, print));
    expect(err.code).toBe("E_NOT_FOUND");
    expect(err.message).toBe("no container owns pid namespace 11 with mount namespace 22");
  });

  test.each([
    ["abc", "12", "PIDNS: must be a namespace inode number"],
    ["11", "-1", "MNTNS: must be a namespace inode number"],
    ["", "12", "PIDNS: must be a namespace inode number"],
    ["1.5", "12", "PIDNS: must be a namespace inode number"],
  ])("refuses PIDNS %p MNTNS %p with E_USAGE before asking the agent", async (pidns, mntns, message) => {
    const err = await rejectionOf(lookupCommand(join(dir.dir, "absent.sock"), 2000, { pidns, mntns }, false, print));
    expect(err.code).toBe("E_USAGE");
    expect(err.message).toBe(message);
  });

  test("finds a container by its cgroup id", async () => {
    registry.register(containerInfo({ id: "cg", namespaces: { pid: 31, mnt: 32 }, cgroup: { path: "/cg", id: 777 } }), "hook");
    expect((await lookupCommand(socket, 2000, { cgroupId: "777" }, true, print)).id).toBe("cg");
    const err = await rejectionOf(lookupCommand(socket, 2000, { cgroupId: "778" }, false, print));
    expect(err.code).toBe("E_NOT_FOUND");
    expect(err.message).toBe("no container owns cgroup id 778");
  });

  test("finds the container of a host process through its /proc/PID/ns", async () => {
    // This test process stands for a container's process: its own namespaces, under its pid.
    const ns = (kind: string): number => Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/self/ns/${kind}`))?.[1]);
    registry.register(containerInfo({ id: "me", pid: process.pid, namespaces: { pid: ns("pid"), mnt: ns("mnt") } }), "hook");
    expect((await lookupCommand(socket, 2000, { pid: String(process.pid) }, false, print)).id).toBe("me");
  });

  test.each([
    [{}, "lookup takes one of: PIDNS MNTNS, --pid PID, --cgroup-id N"],
    [{ pid: "1", cgroupId: "2" }, "lookup takes one of: PIDNS MNTNS, --pid PID, --cgroup-id N"],
    [{ pidns: "1", pid: "2" }, "lookup takes one of: PIDNS MNTNS, --pid PID, --cgroup-id N"],
    [{ pid: "0" }, "--pid: must be a process id"],
    [{ pid: "12x" }, "--pid: must be a process id"],
    [{ cgroupId: "-3" }, "--cgroup-id: must be a namespace inode number"],
  ])("refuses %p with E_USAGE before asking the agent", async (query, message) => {
    const err = await rejectionOf(lookupCommand(join(dir.dir, "absent.sock"), 2000, query, false, print));
    expect(err.code).toBe("E_USAGE");
    expect(err.message).toBe(message);
  });
});

describe("watchCommand()", () => {
  const warnings: string[] = [];
  const options = (overrides: Partial<WatchCommandOptions> = {}): WatchCommandOptions => ({
    socket,
    timeoutMs: 2000,
    json: false,
    warn: (line) => void warnings.push(line),
    ...overrides,
  });

  test("without --reconnect fails with E_AGENT_UNREACHABLE when the agent goes away", async () => {
    const watching = watchCommand(options({ json: true }), print);
    await Bun.sleep(50);
    listener.stop(true);
    const err = await rejectionOf(watching);
    expect(err.code).toBe("E_AGENT_UNREACHABLE");
    expect(err.message).toContain("closed the watch stream");
    expect(printed).toHaveLength(1);
  });

  test("prints the snapshot as a table, then a line per change, until aborted", async () => {
    const abort = new AbortController();
    const watching = watchCommand(options({ signal: abort.signal }), print);
    await until(() => printed.length === 1);
    expect(printed[0]).toBe(`snapshot at ${registry.epoch}:2\n${formatTable(registry.list())}`);
    registry.register(containerInfo({ id: "c" }), "hook");
    registry.unregister("c");
    await until(() => printed.length === 3);
    abort.abort();
    await watching;
    expect(printed.slice(1)).toEqual([
      "+ c pid=4242 pidns=4026532001 mntns=4026532002 source=hook rev=3",
      "- c pid=4242 pidns=4026532001 mntns=4026532002 source=hook rev=4",
    ]);
  });

  test("--json prints the snapshot and the changes as the protocol's objects, one a line", async () => {
    const abort = new AbortController();
    const watching = watchCommand(options({ json: true, signal: abort.signal }), print);
    await until(() => printed.length === 1);
    registry.unregister("a");
    await until(() => printed.length === 2);
    abort.abort();
    await watching;
    const [snapshot, change] = printed.map((line) => JSON.parse(line));
    expect(snapshot).toEqual({ v: 1, event: "snapshot", epoch: registry.epoch, rev: 2, containers: expect.any(Array) });
    expect(snapshot.containers.map((c: { id: string }) => c.id)).toEqual(["a", "b"]);
    expect(change).toMatchObject({ v: 1, event: "remove", epoch: registry.epoch, rev: 3, source: "unregister", container: { id: "a" } });
  });

  test("--since EPOCH:REV prints only the changes after REV", async () => {
    const abort = new AbortController();
    const watching = watchCommand(options({ json: true, since: `${registry.epoch}:1`, signal: abort.signal }), print);
    await until(() => printed.length === 1);
    abort.abort();
    await watching;
    expect(JSON.parse(printed[0] ?? "")).toMatchObject({ event: "add", rev: 2, container: { id: "b" } });
  });

  test("refuses a malformed --since with E_USAGE", async () => {
    const err = await rejectionOf(watchCommand(options({ since: "12" }), print));
    expect(err.code).toBe("E_USAGE");
  });

  test("fails when the agent cannot be reached at first", async () => {
    const err = await rejectionOf(watchCommand(options({ socket: join(dir.dir, "absent.sock") }), print));
    expect(err.code).toBe("E_AGENT_UNREACHABLE");
  });

  test("with --reconnect reconnects when the agent goes away and resumes where it was", async () => {
    const abort = new AbortController();
    const watching = watchCommand(options({ reconnect: true, signal: abort.signal }), print);
    await until(() => printed.length === 1);
    listener.stop(true);
    registry.register(containerInfo({ id: "while-away" }), "hook");
    listener = serve({ socketPath: socket, registry, info: { version: "t", startedAt: new Date() }, log: recordingLogger().log });
    await until(() => printed.length === 2);
    abort.abort();
    await watching;
    expect(printed[1]).toStartWith("+ while-away ");
    expect(warnings.some((w) => w.includes("reconnecting in"))).toBe(true);
  });
});
