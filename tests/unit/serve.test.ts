import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, lstatSync } from "node:fs";
import { join } from "node:path";
import { startAgent, type RunningAgent } from "../../lib/agent/serve.ts";
import { AgentClient } from "../../lib/client.ts";
import { containerInfo, recordingLogger, rejectionOf, tempDir } from "./_fixtures.ts";

let tmp: { dir: string; remove: () => void };
let agents: RunningAgent[];

beforeEach(() => {
  tmp = tempDir();
  agents = [];
});

afterEach(() => {
  for (const agent of agents) agent.stop();
  tmp.remove();
});

async function start(socket: string, log = recordingLogger().log): Promise<RunningAgent> {
  const agent = await startAgent({ socket, version: "1.0.0-test", log });
  agents.push(agent);
  return agent;
}

describe("startAgent()", () => {
  test("creates the socket with mode 0600 even under umask 0, and restores the umask", async () => {
    const socket = join(tmp.dir, "run", "armor.sock");
    const previous = process.umask(0);
    try {
      await start(socket);
      expect(process.umask()).toBe(0);
    } finally {
      process.umask(previous);
    }
    expect(lstatSync(socket).isSocket()).toBe(true);
    expect(lstatSync(socket).mode & 0o777).toBe(0o600);
    expect(lstatSync(join(tmp.dir, "run")).mode & 0o777).toBe(0o700);
  });

  test("serves its registry on the socket", async () => {
    const socket = join(tmp.dir, "armor.sock");
    const agent = await start(socket);
    const client = await AgentClient.connect({ socket, timeoutMs: 2000 });
    try {
      await client.request({ op: "register", source: "hook", container: containerInfo() });
      expect(agent.registry.get("c1")?.source).toBe("hook");
      expect(await client.request({ op: "ping" })).toMatchObject({ version: "1.0.0-test", containers: 1 });
    } finally {
      client.close();
    }
  });

  test("logs registrations and removals", async () => {
    const socket = join(tmp.dir, "armor.sock");
    const logs = recordingLogger();
    const agent = await start(socket, logs.log);
    agent.registry.register(containerInfo(), "hook");
    agent.registry.unregister("c1");
    expect(logs.records.filter((r) => r.msg === "registered" || r.msg === "unregistered")).toEqual([
      { level: "info", msg: "registered", fields: { id: "c1", pid: 4242, source: "hook" } },
      { level: "info", msg: "unregistered", fields: { id: "c1", pid: 4242, source: "hook" } },
    ]);
  });

  test("stop() removes the socket, and a second stop() is harmless", async () => {
    const socket = join(tmp.dir, "armor.sock");
    const logs = recordingLogger();
    const agent = await start(socket, logs.log);
    agent.stop();
    expect(existsSync(socket)).toBe(false);
    agent.stop();
    expect(logs.records.filter((r) => r.msg === "stopped")).toHaveLength(1);
    const err = await rejectionOf(AgentClient.connect({ socket, timeoutMs: 500 }));
    expect(err.code).toBe("E_AGENT_UNREACHABLE");
  });

  test("refuses to start a second agent on the same socket", async () => {
    const socket = join(tmp.dir, "armor.sock");
    await start(socket);
    const err = await rejectionOf(startAgent({ socket, version: "x", log: recordingLogger().log }));
    expect(err.code).toBe("E_SOCKET");
    expect(err.message).toBe(`another agent (pid ${process.pid}) holds ${join(tmp.dir, "agent.lock")}; not starting a second one`);
    expect(lstatSync(socket).isSocket()).toBe(true);
  });
});
