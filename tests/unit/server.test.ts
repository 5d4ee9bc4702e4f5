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

  test("logs a protocol rejection at debug, never louder: a client's mistake cannot flood the agent's log", async () => {
    start();
    const client = await raw();
    client.send({ v: 1, id: 5, op: "reboot" });
    client.send({ v: 99, id: 6, op: "ping" });
    client.send({ v: 1, id: 7, op: "get", container: "absent" });
    for (let i = 0; i < 3; i++) await client.next();
    const rejections = logs.records.filter((record) => record.msg === "request refused");
    expect(rejections.map((record) => [record.level, record.fields?.code])).toEqual([
      ["debug", "E_INVALID_REQUEST"],
      ["debug", "E_VERSION"],
      ["debug", "E_NOT_FOUND"],
    ]);
    expect(logs.records.filter((record) => record.level !== "debug")).toEqual([]);
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

describe("serve() refusing what it cannot apply", () => {
  test("a register that arrives after its deadline is not applied: E_DEADLINE, logged, counted", async () => {
    const errors: string[] = [];
    listener = serve({
      socketPath,
      registry,
      info: { version: "1", startedAt: new Date() },
      log: logs.log,
      observer: { request: () => {}, error: (code) => errors.push(code) },
    });
    const client = await raw();
    client.send({ v: 1, id: 4, op: "register", source: "hook", container: containerInfo({ id: "late" }), deadline: Date.now() - 5 });
    const answer = (await client.next()) as { id: number; ok: boolean; error: { code: string; message: string } };
    expect([answer.id, answer.ok, answer.error.code]).toEqual([4, false, "E_DEADLINE"]);
    expect(answer.error.message).toMatch(/^register of late arrived \d+ ms after its deadline; not applied$/);
    expect(registry.get("late")).toBeUndefined();
    expect(errors).toEqual(["E_DEADLINE"]);
    expect(logs.records.some((r) => r.level === "warn" && r.msg.startsWith("register of late arrived"))).toBe(true);
    client.send({ v: 1, id: 5, op: "register", source: "hook", container: containerInfo({ id: "timely" }), deadline: Date.now() + 60_000 });
    expect(await client.next()).toMatchObject({ id: 5, ok: true, result: { outcome: "added" } });
  });

  test("a register past the registry's bounds is answered E_REGISTRY_FULL, which the client passes on as such", async () => {
    registry = new Registry(undefined, { limits: { maxContainers: 1 } });
    start();
    const client = await agentClient();
    await client.request({ op: "register", source: "hook", container: containerInfo({ id: "one" }) });
    const err = await rejectionOf(client.request({ op: "register", source: "hook", container: containerInfo({ id: "two" }) }));
    expect(err.code).toBe("E_REGISTRY_FULL");
    expect(err.message).toMatch(
      /^agent refused: E_REGISTRY_FULL: the registry is full \(1 containers, .*\): hook registration of two \(\d+ bytes\) not applied$/,
    );
    expect(registry.size).toBe(1);
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

  test("drops a client that stalls half-way through a frame once the frame bound passes", async () => {
    start({ frameTimeoutMs: 100 });
    const client = await raw();
    const started = Date.now();
    client.write(encodeFrame(ping(1)).subarray(0, 10));
    expect(await client.next()).toEqual({
      v: 1,
      id: null,
      ok: false,
      error: { code: "E_PROTOCOL", message: "frame not whole within 100 ms of its first byte" },
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(await client.closesWithin(1000)).toBe(true);
    expect(logs.records.some((r) => r.level === "warn" && r.msg.includes("was not whole"))).toBe(true);
  });

  test("drops a client that trickles a frame a byte at a time, though every byte restarts the idle deadline", async () => {
    start({ frameTimeoutMs: 300, idleTimeoutMs: 10_000 });
    const client = await raw();
    const bytes = encodeFrame(ping(1));
    for (let i = 0; i < bytes.length - 1 && !client.isClosed; i++) {
      client.write(bytes.subarray(i, i + 1));
      await Bun.sleep(40);
    }
    expect(client.isClosed).toBe(true);
    expect(await client.next()).toMatchObject({ id: null, error: { code: "E_PROTOCOL", message: "frame not whole within 300 ms of its first byte" } });
  });

  test("keeps a client that streams many frames across chunk boundaries longer than the frame bound", async () => {
    start({ frameTimeoutMs: 150 });
    const client = await raw();
    const stream = Buffer.concat(Array.from({ length: 40 }, (_, i) => encodeFrame(ping(i))));
    // Every chunk ends half-way through a frame; each frame is whole long before 150 ms.
    for (let at = 0; at < stream.length; at += 37) {
      client.write(stream.subarray(at, at + 37));
      await Bun.sleep(10);
    }
    expect((await client.take(40, 5000)).length).toBe(40);
    expect(client.isClosed).toBe(false);
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
    start({ maxConnections: 2, hookConnections: 0 });
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

describe("serve() connection slots", () => {
  const register = (id: number, name: string): object => ({ v: 1, id, op: "register", source: "hook", container: containerInfo({ id: name }) });

  test("keeps the hooks' share of the slots from clients that fill theirs", async () => {
    start({ maxConnections: 6, hookConnections: 2 });
    for (let i = 0; i < 4; i++) {
      const watcher = await raw();
      watcher.send({ v: 1, id: 1, op: "watch" });
      expect(await watcher.next()).toMatchObject({ id: 1, ok: true });
    }
    const fifth = await raw();
    fifth.send({ v: 1, id: 1, op: "list" });
    expect(await fifth.next()).toMatchObject({ id: null, ok: false, error: { code: "E_BUSY" } });
    expect(await fifth.closesWithin(1000)).toBe(true);
    const hooks = [await raw(), await raw()];
    hooks.forEach((hook, i) => hook.send(register(7, `h${i}`)));
    for (const hook of hooks) expect(await hook.next()).toMatchObject({ id: 7, ok: true, result: { outcome: "added" } });
    expect(registry.size).toBe(2);
  });

  test("lets a hook in past connections that never send a whole frame, however many", async () => {
    start({ maxConnections: 8, hookConnections: 2, idleTimeoutMs: 10_000, frameTimeoutMs: 10_000 });
    const silent: RawClient[] = [];
    for (let i = 0; i < 20; i++) {
      const client = await raw();
      if (i % 2 === 0) client.write(encodeFrame(ping(1)).subarray(0, 3));
      silent.push(client);
    }
    // Past the grace a connection has for its first frame: now they can be made to give way.
    await Bun.sleep(300);
    const hook = await raw();
    hook.send(register(3, "hooked"));
    expect(await hook.next()).toMatchObject({ id: 3, ok: true, result: { outcome: "added" } });
    await Bun.sleep(50);
    // Never more than the slots; the oldest made way for the hook.
    expect(silent.filter((client) => !client.isClosed).length).toBeLessThanOrEqual(7);
    expect(silent[0]?.isClosed).toBe(true);
  });
});

describe("serve() output", () => {
  /** A record of about 30 KiB: every bounded string near its 4,096-character limit. */
  const bulky = (id: string) =>
    containerInfo({
      id,
      bundle: `/b/${"b".repeat(4000)}`,
      apparmorProfile: "a".repeat(4000),
      containerName: "n".repeat(4000),
      sandboxId: "s".repeat(4000),
      image: "i".repeat(4000),
      pod: { name: "p".repeat(4000), namespace: "q".repeat(4000), uid: "u".repeat(4000) },
    });

  test("a list answer larger than the watcher bound still reaches the CLI", async () => {
    start();
    for (let i = 0; i < 600; i++) registry.register(bulky(`big${i}`), "hook");
    const cli = await AgentClient.connect({ socket: socketPath, timeoutMs: 20_000, maxFrameBytes: 256 * 1024 * 1024 });
    clients.push(cli);
    const answer = (await cli.request({ op: "list" })) as { containers: unknown[] };
    expect(answer.containers).toHaveLength(600);
    expect(JSON.stringify(answer).length).toBeGreaterThan(16 * 1024 * 1024);
  });

  test("watchers that never read are dropped once together they pass the output budget; readers and hooks go on", async () => {
    start({ outputBudgetBytes: 1024 * 1024 });
    const stuck: RawClient[] = [];
    for (let i = 0; i < 10; i++) {
      const watcher = await raw();
      watcher.send({ v: 1, id: 1, op: "watch" });
      await watcher.next();
      watcher.stopReading();
      stuck.push(watcher);
    }
    const reader = await agentClient();
    const seen = new Set<string>();
    reader.listen(
      (event) => event.event !== "snapshot" && seen.add(event.container.id),
      () => {},
    );
    await reader.request({ op: "watch" });
    const hook = await agentClient();
    // 150 records of ~30 KiB: 4.5 MiB of events for each watcher, under its own 16 MiB bound.
    for (let i = 0; i < 150; i++) expect(await hook.request({ op: "register", source: "hook", container: bulky(`w${i}`) })).toMatchObject({ outcome: "added" });
    for (let i = 0; i < 200 && seen.size < 150; i++) await Bun.sleep(10);
    expect(seen.size).toBe(150);
    const dropped = logs.records.filter((r) => r.msg.includes("output budget is full"));
    expect(dropped.length).toBeGreaterThanOrEqual(7);
    for (const record of dropped) expect(record.fields?.budget).toBe(1024 * 1024);
  });

  test("a reading watcher gets a snapshot larger than the watcher bound, and every change after it", async () => {
    start({ maxOutboxBytes: 512 * 1024 });
    // About 1.8 MiB of records: over the bound, within the registry's and the output budget's.
    for (let i = 0; i < 60; i++) registry.register(bulky(`big${i}`), "hook");
    const watcher = await AgentClient.connect({ socket: socketPath, timeoutMs: 5000, maxFrameBytes: 256 * 1024 * 1024 });
    clients.push(watcher);
    const seen: string[] = [];
    watcher.listen(
      (event) => seen.push(event.event === "snapshot" ? `snapshot:${event.containers.length}` : `${event.event}:${event.container.id}`),
      () => seen.push("closed"),
    );
    await watcher.request({ op: "watch" });
    // Changes that come while the snapshot is still being written queue behind it.
    for (let i = 0; i < 10; i++) registry.register(bulky(`after${i}`), "hook");
    for (let i = 0; i < 300 && seen.length < 11; i++) await Bun.sleep(10);
    expect(seen).toEqual(["snapshot:60", ...Array.from({ length: 10 }, (_, i) => `add:after${i}`)]);
    expect(logs.records.some((r) => r.msg.startsWith("dropping"))).toBe(false);
  });

  test("a watcher resuming over more changes than the watcher bound gets them all", async () => {
    start({ maxOutboxBytes: 512 * 1024 });
    const epoch = registry.epoch;
    for (let i = 0; i < 60; i++) registry.register(bulky(`r${i}`), "hook");
    const watcher = await AgentClient.connect({ socket: socketPath, timeoutMs: 5000, maxFrameBytes: 256 * 1024 * 1024 });
    clients.push(watcher);
    const seen: string[] = [];
    watcher.listen(
      (event) => seen.push(event.event === "snapshot" ? "snapshot" : `${event.event}:${event.container.id}`),
      () => seen.push("closed"),
    );
    expect(await watcher.request({ op: "watch", since: { epoch, rev: 0 } })).toMatchObject({ resumed: true });
    for (let i = 0; i < 300 && seen.length < 60; i++) await Bun.sleep(10);
    expect(seen).toEqual(Array.from({ length: 60 }, (_, i) => `add:r${i}`));
  });

  test("a watcher that never reads is dropped at its own bound", async () => {
    start({ maxOutboxBytes: 512 * 1024 });
    const watcher = await raw();
    watcher.send({ v: 1, id: 1, op: "watch" });
    await watcher.next();
    watcher.stopReading();
    const hook = await agentClient();
    for (let i = 0; i < 60; i++) await hook.request({ op: "register", source: "hook", container: bulky(`s${i}`) });
    expect(logs.records.some((r) => r.msg === "dropping a watcher that does not read its events")).toBe(true);
  });
});

describe("serve() watch", () => {
  test("streams add and remove events to a watcher, and nothing for an unchanged registration", async () => {
    start();
    const watcher = await raw();
    watcher.send({ v: 1, id: 1, op: "watch" });
    expect(await watcher.next()).toEqual({ v: 1, id: 1, ok: true, result: { watching: true, epoch: registry.epoch, rev: 0, resumed: false } });
    expect(await watcher.next()).toEqual({ v: 1, event: "snapshot", epoch: registry.epoch, rev: 0, containers: [] });

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
    await watcher.take(2);
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
      (event) => seen.push(event.event === "snapshot" ? `snapshot:${event.rev}` : `${event.event}:${event.container.id}:${event.rev}`),
      () => {},
    );
    expect(await watcher.request({ op: "watch" })).toEqual({ watching: true, epoch: registry.epoch, rev: 0, resumed: false });
    registry.register(containerInfo({ id: "e1" }), "hook");
    registry.unregister("e1");
    for (let i = 0; i < 50 && seen.length < 3; i++) await Bun.sleep(10);
    expect(seen).toEqual(["snapshot:0", "add:e1:1", "remove:e1:2"]);
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
