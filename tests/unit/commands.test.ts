import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { UnixSocketListener } from "bun";
import { join } from "node:path";
import { getCommand, listCommand, lookupCommand, watchCommand } from "../../lib/agent/commands.ts";
import { formatContainer, formatTable } from "../../lib/agent/format.ts";
import { Registry } from "../../lib/registry.ts";
import { serve } from "../../lib/agent/server.ts";
import { containerInfo, recordingLogger, rejectionOf, tempDir } from "./_fixtures.ts";

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
    const container = await lookupCommand(socket, 2000, "21", "22", false, print);
    expect(container.id).toBe("b");
    expect(printed).toEqual([formatContainer(container)]);
  });

  test("fails with E_NOT_FOUND when no container owns the pair", async () => {
    const err = await rejectionOf(lookupCommand(socket, 2000, "11", "22", false, print));
    expect(err.code).toBe("E_NOT_FOUND");
    expect(err.message).toBe("no container owns pid namespace 11 with mount namespace 22");
  });

  test.each([
    ["abc", "12", "PIDNS: must be a namespace inode number"],
    ["11", "-1", "MNTNS: must be a namespace inode number"],
    ["", "12", "PIDNS: must be a namespace inode number"],
    ["1.5", "12", "PIDNS: must be a namespace inode number"],
  ])("refuses PIDNS %p MNTNS %p with E_USAGE before asking the agent", async (pidns, mntns, message) => {
    const err = await rejectionOf(lookupCommand(join(dir.dir, "absent.sock"), 2000, pidns, mntns, false, print));
    expect(err.code).toBe("E_USAGE");
    expect(err.message).toBe(message);
  });
});

describe("watchCommand()", () => {
  test("prints events until aborted", async () => {
    const abort = new AbortController();
    const watching = watchCommand(socket, 2000, false, print, abort.signal);
    // The watch answer arrives before any event: wait until the server holds a subscriber.
    await Bun.sleep(50);
    registry.register(containerInfo({ id: "c" }), "hook");
    registry.unregister("c");
    for (let i = 0; i < 50 && printed.length < 2; i++) await Bun.sleep(10);
    abort.abort();
    await watching;
    expect(printed).toEqual(["+ c pid=4242 pidns=4026532001 mntns=4026532002 source=hook", "- c pid=4242 pidns=4026532001 mntns=4026532002 source=hook"]);
  });

  test("fails with E_AGENT_UNREACHABLE when the agent goes away", async () => {
    const watching = watchCommand(socket, 2000, true, print);
    await Bun.sleep(50);
    listener.stop(true);
    const err = await rejectionOf(watching);
    expect(err.code).toBe("E_AGENT_UNREACHABLE");
    expect(err.message).toContain("closed the watch stream");
    expect(printed).toEqual([]);
  });
});
