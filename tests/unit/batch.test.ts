/** sendBatch() and the agent's side of a batch, over a real socket to an in-process server. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { UnixSocketListener } from "bun";
import { join } from "node:path";
import { BootstrapTracker, type Reconcile } from "../../lib/agent/bootstrap.ts";
import { sendBatch } from "../../lib/bootstrap/batch.ts";
import { AgentClient } from "../../lib/client.ts";
import { Registry } from "../../lib/registry.ts";
import { serve, type ServerLimits } from "../../lib/agent/server.ts";
import { RawClient } from "./_raw-client.ts";
import { containerInfo, recordingLogger, tempDir } from "./_fixtures.ts";

let dir: { dir: string; remove: () => void };
let socketPath: string;
let registry: Registry;
let tracker: BootstrapTracker;
let listener: UnixSocketListener<unknown> | undefined;
let clients: Array<{ close: () => void }>;
let reconciled: number;

beforeEach(() => {
  dir = tempDir();
  socketPath = join(dir.dir, "agent.sock");
  registry = new Registry();
  clients = [];
  reconciled = 0;
});

afterEach(() => {
  for (const client of clients) client.close();
  tracker?.stop();
  listener?.stop(true);
  listener = undefined;
  dir.remove();
});

/** Starts an agent waiting for the hook's batch; its own enumeration "finds" `found`. */
function startAgent(options: { found?: number; limits?: Partial<ServerLimits> } = {}): void {
  const { log } = recordingLogger();
  const reconcile: Reconcile = async () => {
    reconciled += 1;
    return options.found ?? 4;
  };
  tracker = new BootstrapTracker({ mode: "hook", deadlineMs: 5000, reconcile, log });
  listener = serve({ socketPath, registry, info: { version: "1.0.0", startedAt: new Date(), bootstrap: tracker }, log, limits: options.limits ?? {} });
  tracker.start();
}

async function client(): Promise<AgentClient> {
  const c = await AgentClient.connect({ socket: socketPath, timeoutMs: 2000 });
  clients.push(c);
  return c;
}

async function raw(): Promise<RawClient> {
  const c = await RawClient.connect(socketPath);
  clients.push(c);
  return c;
}

const a = containerInfo({ id: "a", pid: 11, namespaces: { pid: 111, mnt: 112 } });
const b = containerInfo({ id: "b", pid: 12, namespaces: { pid: 121, mnt: 122 } });
const c = containerInfo({ id: "c", pid: 13, namespaces: { pid: 131, mnt: 132 } });

describe("sendBatch()", () => {
  test("registers every container as pre-existing and ends the agent's bootstrap", async () => {
    startAgent();
    const result = await sendBatch(await client(), [a, b]);
    expect(result).toEqual({ sent: 2, ignored: 0, state: "ready" });
    expect(registry.list().map((x) => [x.id, x.source])).toEqual([
      ["a", "bootstrap"],
      ["b", "bootstrap"],
    ]);
    expect(tracker.status()).toMatchObject({ state: "ready", completedBy: "batch", containers: 2, warning: null });
    expect(reconciled).toBe(0);
  });

  test("ends the bootstrap at once with an empty batch (a node with no containers)", async () => {
    startAgent();
    expect(await sendBatch(await client(), [])).toEqual({ sent: 0, ignored: 0, state: "ready" });
    expect(tracker.status()).toMatchObject({ completedBy: "batch", containers: 0 });
  });

  test("counts the entries the agent refused as stale, and leaves the live data alone", async () => {
    startAgent();
    const live = await client();
    await live.request({ op: "unregister", container: "a" });
    const bLive = { ...b, pid: 99, apparmorProfile: "armor-live" };
    await live.request({ op: "register", source: "hook", container: bLive });
    const result = await sendBatch(await client(), [a, b, c]);
    expect(result).toEqual({ sent: 3, ignored: 2, state: "ready" });
    expect(registry.list().map((x) => [x.id, x.pid, x.source])).toEqual([
      ["b", 99, "hook"],
      ["c", 13, "bootstrap"],
    ]);
    // Refused entries still reached the agent: the batch is complete, without a warning.
    expect(tracker.status()).toMatchObject({ completedBy: "batch", containers: 3, warning: null });
  });

  test("reports a batch to an agent that is already ready as such", async () => {
    startAgent();
    // A first batch ends the bootstrap; a second one (a restarted fork) changes nothing of it.
    await sendBatch(await client(), [a]);
    expect(await sendBatch(await client(), [b])).toEqual({ sent: 1, ignored: 0, state: "ready" });
    expect(tracker.status()).toMatchObject({ completedBy: "batch", containers: 1 });
    expect(registry.size).toBe(2);
  });
});

describe("the agent's side of a batch", () => {
  test("ties the batch to its connection: live messages on other connections neither count nor get overwritten", async () => {
    startAgent();
    const batch = await client();
    const live = await client();
    await batch.request({ op: "bootstrap-begin" });
    await batch.request({ op: "register", source: "bootstrap", container: a });
    const bLive = { ...b, pid: 99 };
    await live.request({ op: "register", source: "hook", container: bLive });
    await live.request({ op: "unregister", container: "c" });
    expect(await batch.request({ op: "register", source: "bootstrap", container: b })).toMatchObject({
      outcome: "ignored",
      container: { pid: 99, source: "hook" },
    });
    expect(await batch.request({ op: "register", source: "bootstrap", container: c })).toEqual({ outcome: "ignored", container: null });
    expect(tracker.state).toBe("bootstrapping");
    expect(await batch.request({ op: "bootstrap-end", count: 3 })).toEqual({ state: "ready" });
    expect(tracker.status()).toMatchObject({ completedBy: "batch", containers: 3, warning: null });
    expect(registry.list().map((x) => [x.id, x.pid, x.source])).toEqual([
      ["a", 11, "bootstrap"],
      ["b", 99, "hook"],
    ]);
  });

  test("falls back to its own enumeration when the batch's connection dies half-way", async () => {
    startAgent({ found: 4 });
    const batch = await raw();
    batch.send({ v: 1, id: 1, op: "bootstrap-begin" });
    batch.send({ v: 1, id: 2, op: "register", source: "bootstrap", container: a });
    await batch.take(2);
    batch.close();
    await tracker.whenReady();
    expect(tracker.status()).toMatchObject({
      completedBy: "reconcile",
      containers: 4,
      warning: "bootstrap batch connection closed after 1 containers, before its end",
    });
    expect(reconciled).toBe(1);
    // What the batch did send is kept.
    expect(registry.get("a")?.source).toBe("bootstrap");
  });

  test("falls back when a batch stalls half-way and the server drops it as idle", async () => {
    startAgent({ found: 0, limits: { idleTimeoutMs: 50 } });
    const batch = await raw();
    batch.send({ v: 1, id: 1, op: "bootstrap-begin" });
    await batch.take(1);
    expect(await batch.closesWithin(1000)).toBe(true);
    await tracker.whenReady();
    expect(tracker.status()).toMatchObject({ completedBy: "reconcile", containers: 0 });
    expect(tracker.status().warning).toStartWith("bootstrap batch connection closed after 0 containers, before its end");
  });

  test("is not disturbed by other connections closing during the batch", async () => {
    startAgent();
    const batch = await client();
    await batch.request({ op: "bootstrap-begin" });
    const other = await client();
    await other.request({ op: "ping" });
    other.close();
    await Bun.sleep(20);
    expect(tracker.state).toBe("bootstrapping");
    expect(reconciled).toBe(0);
    await batch.request({ op: "bootstrap-end", count: 0 });
    expect(tracker.status().completedBy).toBe("batch");
  });
});
