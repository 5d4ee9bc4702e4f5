/** lib/consumer.ts against a real server: the mirror, resuming, resets, gating. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { UnixSocketListener } from "bun";
import { join } from "node:path";
import { AgentClient } from "../../lib/client.ts";
import { parseSince, watchAgent, type WatchHandlers, type WatchOptions } from "../../lib/consumer.ts";
import { serve } from "../../lib/agent/server.ts";
import { Registry } from "../../lib/registry.ts";
import { containerInfo, recordingLogger, rejectionOf, tempDir, until } from "./_fixtures.ts";

let dir: { dir: string; remove: () => void };
let socket: string;
let registry: Registry;
let listener: UnixSocketListener<unknown>;
let abort: AbortController;

const listen = (): void => {
  listener = serve({ socketPath: socket, registry, info: { version: "t", startedAt: new Date() }, log: recordingLogger().log });
};

beforeEach(() => {
  dir = tempDir();
  socket = join(dir.dir, "agent.sock");
  registry = new Registry();
  abort = new AbortController();
  listen();
});

afterEach(() => {
  abort.abort();
  listener.stop(true);
  dir.remove();
});

const options = (overrides: Partial<WatchOptions> = {}): WatchOptions => ({ socket, timeoutMs: 2000, reconnect: true, signal: abort.signal, ...overrides });
const ids = (m: Map<string, unknown>): string[] => [...m.keys()].sort();

describe("watchAgent()", () => {
  test("mirrors the registry from the snapshot and the changes, and tracks its position", async () => {
    registry.register(containerInfo({ id: "a" }), "hook");
    const watch = watchAgent(options(), {});
    await until(() => watch.position?.rev === 1);
    registry.register(containerInfo({ id: "b" }), "hook");
    registry.unregister("a");
    await until(() => watch.position?.rev === 3);
    expect(ids(watch.containers)).toEqual(["b"]);
    expect(watch.position).toEqual({ epoch: registry.epoch, rev: 3 });
  });

  test("reconnects after the agent went away and resumes with exactly what changed meanwhile", async () => {
    const seen: string[] = [];
    const handlers: WatchHandlers = {
      snapshot: (s) => seen.push(`snapshot:${s.rev}`),
      change: (e) => seen.push(`${e.event}:${e.container.id}:${e.rev}`),
      connected: (c) => seen.push(`connected:${c.resumed}`),
    };
    const watch = watchAgent(options(), handlers);
    await until(() => seen.length === 2);
    listener.stop(true);
    registry.register(containerInfo({ id: "x" }), "hook");
    registry.register(containerInfo({ id: "y" }), "hook");
    registry.unregister("x");
    listen();
    await until(() => watch.position?.rev === 3);
    expect(seen).toEqual(["connected:false", "snapshot:0", "connected:true", "add:x:1", "add:y:2", "remove:x:3"]);
    expect(ids(watch.containers)).toEqual(["y"]);
  });

  test("takes the fresh snapshot, marked reset, from a restarted agent (another epoch)", async () => {
    registry.register(containerInfo({ id: "old" }), "hook");
    const resets: boolean[] = [];
    const watch = watchAgent(options(), { snapshot: (s) => resets.push(s.reset) });
    await until(() => resets.length === 1);
    listener.stop(true);
    registry = new Registry();
    registry.register(containerInfo({ id: "new" }), "hook");
    listen();
    await until(() => resets.length === 2);
    expect(resets).toEqual([false, true]);
    expect(ids(watch.containers)).toEqual(["new"]);
    expect(watch.position?.epoch).toBe(registry.epoch);
  });

  test("rejects when the first connection fails, and without reconnect when the agent goes away", async () => {
    expect((await rejectionOf(watchAgent(options({ socket: join(dir.dir, "none.sock") }), {}).done)).code).toBe("E_AGENT_UNREACHABLE");
    const watch = watchAgent(options({ reconnect: false }), {});
    await until(() => watch.position !== undefined);
    listener.stop(true);
    const err = await rejectionOf(watch.done);
    expect(err.code).toBe("E_AGENT_UNREACHABLE");
    expect(err.message).toBe(`the agent at ${socket} closed the watch stream`);
  });

  test("as a gate, answers each gated add with decide(): ack lets it register, nack and a throw refuse it", async () => {
    const watch = watchAgent(
      options({
        gate: {
          name: "ts",
          timeoutMs: 2000,
          decide: async (c) => {
            if (c.id === "boom") throw new Error("decider crashed");
            return c.id.startsWith("ok") ? { ack: true } : { ack: false, reason: `no ${c.id}` };
          },
        },
      }),
      {},
    );
    await until(() => watch.position !== undefined);
    const hook = await AgentClient.connect({ socket, timeoutMs: 2000 });
    const register = (id: string) => hook.request({ op: "register", source: "hook", container: containerInfo({ id }) });
    expect(await register("ok-1")).toMatchObject({ outcome: "added" });
    expect((await rejectionOf(register("bad"))).message).toContain('gate "ts" refused container bad: no bad');
    expect((await rejectionOf(register("boom"))).message).toContain('gate "ts" refused container boom: decider crashed');
    hook.close();
    expect(registry.list().map((c) => c.id)).toEqual(["ok-1"]);
  });
});

describe("parseSince()", () => {
  test("reads EPOCH:REV", () => {
    expect(parseSince("3f9c0a1b2c3d4e5f:42")).toEqual({ epoch: "3f9c0a1b2c3d4e5f", rev: 42 });
  });

  test.each(["", "42", "abc:", ":1", "XYZ:1", "ab:-1", "ab:1.5"])("refuses %p with E_USAGE", (text) => {
    expect(() => parseSince(text)).toThrow("--since must be EPOCH:REV");
  });
});
