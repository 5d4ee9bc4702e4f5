import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { UnixSocketListener } from "bun";
import { join } from "node:path";
import { AgentClient } from "../../lib/client.ts";
import { Registry } from "../../lib/registry.ts";
import { serve, type ServerLimits } from "../../lib/agent/server.ts";
import { encodeFrame } from "../../lib/wire/frame.ts";
import { RawClient } from "./_raw-client.ts";
import { containerInfo, recordingLogger, rejectionOf, tempDir } from "./_fixtures.ts";

let dir: { dir: string; remove: () => void };
let socketPath: string;
let registry: Registry;
let listener: UnixSocketListener<unknown> | undefined;
let clients: Array<{ close: () => void }>;
let logs: ReturnType<typeof recordingLogger>;

beforeEach(() => {
  dir = tempDir();
  socketPath = join(dir.dir, "agent.sock");
  registry = new Registry(() => new Date("2025-01-01T00:00:00.000Z"));
  clients = [];
  logs = recordingLogger();
});

afterEach(() => {
  for (const client of clients) client.close();
  listener?.stop(true);
  listener = undefined;
  dir.remove();
});

function start(limits: Partial<ServerLimits> = {}): void {
  listener = serve({ socketPath, registry, info: { version: "1.2.3", startedAt: new Date("2024-12-31T00:00:00.000Z") }, log: logs.log, limits });
}

async function raw(): Promise<RawClient> {
  const client = await RawClient.connect(socketPath);
  clients.push(client);
  return client;
}

async function agentClient(): Promise<AgentClient> {
  const client = await AgentClient.connect({ socket: socketPath, timeoutMs: 2000 });
  clients.push(client);
  return client;
}

function header(length: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, length);
  return bytes;
}

const ping = (id: number): object => ({ v: 1, id, op: "ping" });

describe("serve() answering requests", () => {
  test("serves register, list, get, lookup and unregister to an AgentClient", async () => {
    start();
    const client = await agentClient();
    const info = containerInfo({ id: "web", namespaces: { pid: 11, mnt: 12 } });
    const held = { ...info, source: "hook", registeredAt: "2025-01-01T00:00:00.000Z" };

    expect(await client.request({ op: "register", source: "hook", container: info })).toEqual({ container: held, outcome: "added" });
    expect(await client.request({ op: "register", source: "hook", container: info })).toEqual({ container: held, outcome: "unchanged" });
    expect(registry.get("web")).toEqual({ ...info, source: "hook", registeredAt: "2025-01-01T00:00:00.000Z" });
    expect(await client.request({ op: "list" })).toEqual({ containers: [held] });
    expect(await client.request({ op: "get", container: "web" })).toEqual({ container: held });
    expect(await client.request({ op: "lookup", pidns: 11, mntns: 12 })).toEqual({ container: held });
    expect(await client.request({ op: "lookup", pidns: 11, mntns: 13 })).toEqual({ container: null });
    expect(await client.request({ op: "unregister", container: "web" })).toEqual({ removed: true });
    expect(await client.request({ op: "unregister", container: "web" })).toEqual({ removed: false });
    expect(await client.request({ op: "list" })).toEqual({ containers: [] });
    expect(registry.size).toBe(0);
  });

  test("answers get of an unknown id with E_NOT_FOUND", async () => {
    start();
    const err = await rejectionOf((await agentClient()).request({ op: "get", container: "nope" }));
    expect(err.code).toBe("E_NOT_FOUND");
    expect(err.message).toBe('agent refused: E_NOT_FOUND: no container "nope"');
  });

  test("answers ping with the agent's version and size", async () => {
    start();
    registry.register(containerInfo(), "bootstrap");
    expect(await (await agentClient()).request({ op: "ping" })).toMatchObject({
      agent: "armor-agent",
      version: "1.2.3",
      containers: 1,
      startedAt: "2024-12-31T00:00:00.000Z",
    });
  });

  test("answers a frame that is not JSON with E_PROTOCOL and keeps serving the connection", async () => {
    start();
    const client = await raw();
    client.write(encodeFrame("x").subarray(0, 4));
    client.write(new TextEncoder().encode("{}}"));
    expect(await client.next()).toEqual({ v: 1, id: null, ok: false, error: { code: "E_PROTOCOL", message: "frame is not valid JSON" } });
    client.send(ping(2));
    expect(await client.next()).toMatchObject({ v: 1, id: 2, ok: true, result: { agent: "armor-agent" } });
  });

  test("answers another protocol version with E_VERSION echoing the request id", async () => {
    start();
    const client = await raw();
    client.send({ v: 2, id: 41, op: "ping" });
    expect(await client.next()).toEqual({
      v: 1,
      id: 41,
      ok: false,
      error: { code: "E_VERSION", message: "unsupported protocol version 2 (this agent speaks 1)" },
    });
    client.send(ping(42));
    expect(await client.next()).toMatchObject({ id: 42, ok: true });
  });

  test.each([
    ["an unknown op", { v: 1, id: 5, op: "reboot" }, /^invalid request: op: /],
    ["an unknown field", { v: 1, id: 5, op: "ping", extra: true }, /^invalid request: extra: /],
    [
      "a register without pid",
      { v: 1, id: 5, op: "register", source: "hook", container: { ...containerInfo(), pid: undefined } },
      "invalid request: container.pid: missing",
    ],
    [
      "a container id outside runc's rule",
      { v: 1, id: 5, op: "get", container: "../etc" },
      "invalid request: container: container id has characters outside [A-Za-z0-9_+.-]",
    ],
  ])("answers %s with E_INVALID_REQUEST and changes nothing", async (_name, request, message) => {
    start();
    const client = await raw();
    client.send(request);
    const answer = (await client.next()) as { id: unknown; ok: unknown; error: { code: string; message: string } };
    expect([answer.id, answer.ok, answer.error.code]).toEqual([5, false, "E_INVALID_REQUEST"]);
    if (typeof message === "string") expect(answer.error.message).toBe(message);
    else expect(answer.error.message).toMatch(message);
    expect(registry.size).toBe(0);
    client.send(ping(6));
    expect(await client.next()).toMatchObject({ id: 6, ok: true });
  });

  test("serves frames split into 1-byte chunks", async () => {
    start();
    const client = await raw();
    const bytes = Buffer.concat([encodeFrame({ v: 1, id: 1, op: "register", source: "hook", container: containerInfo() }), encodeFrame(ping(2))]);
    for (const byte of bytes) {
      client.write(Uint8Array.of(byte));
      await Bun.sleep(0);
    }
    const [registered, pong] = await client.take(2);
    expect(registered).toMatchObject({ id: 1, ok: true, result: { container: { id: "c1", source: "hook" } } });
    expect(pong).toMatchObject({ id: 2, ok: true, result: { containers: 1 } });
    expect(registry.get("c1")?.pid).toBe(4242);
  });

  test("answers each of many requests in one chunk exactly once, in order", async () => {
    start();
    const client = await raw();
    const requests: object[] = [];
    for (let id = 0; id < 60; id++) {
      if (id % 3 === 0) requests.push({ v: 1, id, op: "register", source: "hook", container: containerInfo({ id: `c${id}` }) });
      else if (id % 3 === 1) requests.push({ v: 1, id, op: "get", container: `c${id - 1}` });
      else requests.push({ v: 2, id, op: "ping" });
    }
    client.write(Buffer.concat(requests.map((r) => encodeFrame(r))));
    const answers = (await client.take(60)) as Array<{ id: number; ok: boolean; error?: { code: string } }>;
    expect(answers.map((a) => a.id)).toEqual(requests.map((_, id) => id));
    expect(answers.map((a) => (a.ok ? "ok" : a.error?.code))).toEqual(requests.map((_, id) => (id % 3 === 2 ? "E_VERSION" : "ok")));
    await Bun.sleep(50);
    expect(client.pending).toHaveLength(0);
    expect(registry.size).toBe(20);
  });
});

describe("serve() protecting itself", () => {
  test("refuses an oversize frame header, drops that client, and keeps serving others", async () => {
    start();
    registry.register(containerInfo(), "hook");
    const bystander = await agentClient();
    const attacker = await raw();
    attacker.write(header(10 * 1024 * 1024));
    expect(await attacker.next()).toEqual({
      v: 1,
      id: null,
      ok: false,
      error: { code: "E_FRAME_TOO_LARGE", message: "frame of 10485760 bytes exceeds the limit of 65536" },
    });
    expect(await attacker.closesWithin(1000)).toBe(true);
    expect(await bystander.request({ op: "list" })).toMatchObject({ containers: [{ id: "c1" }] });
    expect(registry.size).toBe(1);
  });

  test("refuses a zero-length frame and drops the client", async () => {
    start();
    const client = await raw();
    client.write(header(0));
    expect(await client.next()).toEqual({ v: 1, id: null, ok: false, error: { code: "E_PROTOCOL", message: "empty frame" } });
    expect(await client.closesWithin(1000)).toBe(true);
  });

  test("drops a client that stalls half-way through a frame after the idle timeout", async () => {
    start({ idleTimeoutMs: 100 });
    const client = await raw();
    const started = Date.now();
    client.write(encodeFrame(ping(1)).subarray(0, 10));
    expect(await client.next()).toEqual({
      v: 1,
      id: null,
      ok: false,
      error: { code: "E_PROTOCOL", message: "idle for 100 ms (stalled half-way through a frame)" },
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(await client.closesWithin(1000)).toBe(true);
    expect(logs.records.some((r) => r.level === "warn" && r.msg.includes("stalled half-way"))).toBe(true);
  });

  test("drops a client that sends nothing after the idle timeout", async () => {
    start({ idleTimeoutMs: 80 });
    const client = await raw();
    expect(await client.next()).toMatchObject({ id: null, error: { code: "E_PROTOCOL", message: "idle for 80 ms (sent nothing)" } });
    expect(await client.closesWithin(1000)).toBe(true);
  });

  test("restarts the idle deadline on every chunk", async () => {
    start({ idleTimeoutMs: 250 });
    const client = await raw();
    // 3 × 100 ms outlasts one deadline: only a restarted deadline keeps the client.
    for (let i = 0; i < 3; i++) {
      await Bun.sleep(100);
      client.send(ping(i));
      expect(await client.next()).toMatchObject({ id: i, ok: true });
    }
    expect(client.isClosed).toBe(false);
  });

  test("refuses connections beyond the limit and serves again once one closes", async () => {
    start({ maxConnections: 2 });
    const first = await agentClient();
    const second = await agentClient();
    await first.request({ op: "ping" });
    await second.request({ op: "ping" });
    const third = await raw();
    expect(await third.next()).toEqual({ v: 1, id: null, ok: false, error: { code: "E_BUSY", message: "too many connections (limit 2)" } });
    expect(await third.closesWithin(1000)).toBe(true);
    expect(await second.request({ op: "ping" })).toMatchObject({ agent: "armor-agent" });

    first.close();
    await Bun.sleep(50);
    const fourth = await raw();
    fourth.send(ping(9));
    expect(await fourth.next()).toMatchObject({ id: 9, ok: true });
  });
});

describe("serve() watch", () => {
  test("streams add and remove events to a watcher, and nothing for an unchanged registration", async () => {
    start();
    const watcher = await raw();
    watcher.send({ v: 1, id: 1, op: "watch" });
    expect(await watcher.next()).toEqual({ v: 1, id: 1, ok: true, result: { watching: true } });

    const client = await agentClient();
    await client.request({ op: "register", source: "hook", container: containerInfo({ id: "w1" }) });
    await client.request({ op: "register", source: "hook", container: containerInfo({ id: "w1" }) });
    await client.request({ op: "unregister", container: "w1" });
    await client.request({ op: "unregister", container: "w1" });

    const events = (await watcher.take(2)) as Array<{ v: number; event: string; container: { id: string; source: string } }>;
    expect(events.map((e) => [e.v, e.event, e.container.id, e.container.source])).toEqual([
      [1, "add", "w1", "hook"],
      [1, "remove", "w1", "hook"],
    ]);
    await Bun.sleep(50);
    expect(watcher.pending).toHaveLength(0);
  });

  test("keeps a quiet watcher past the idle timeout", async () => {
    start({ idleTimeoutMs: 60 });
    const watcher = await raw();
    watcher.send({ v: 1, id: 1, op: "watch" });
    await watcher.next();
    await Bun.sleep(200);
    expect(watcher.isClosed).toBe(false);
    registry.register(containerInfo({ id: "late" }), "hook");
    expect(await watcher.next()).toMatchObject({ event: "add", container: { id: "late" } });
  });

  test("delivers events to an AgentClient listener", async () => {
    start();
    const watcher = await agentClient();
    const seen: string[] = [];
    watcher.listen(
      (event) => seen.push(`${event.event}:${event.container.id}`),
      () => {},
    );
    expect(await watcher.request({ op: "watch" })).toEqual({ watching: true });
    registry.register(containerInfo({ id: "e1" }), "hook");
    registry.unregister("e1");
    for (let i = 0; i < 50 && seen.length < 2; i++) await Bun.sleep(10);
    expect(seen).toEqual(["add:e1", "remove:e1"]);
  });

  test("stops streaming to a watcher that disconnected", async () => {
    start();
    const watcher = await raw();
    watcher.send({ v: 1, id: 1, op: "watch" });
    await watcher.next();
    watcher.close();
    await Bun.sleep(50);
    registry.register(containerInfo({ id: "after" }), "hook");
    expect(registry.get("after")).toBeDefined();
    expect(logs.records.filter((r) => r.level === "error")).toEqual([]);
  });
});
