/**
 * BootstrapTracker: the agent moves from bootstrapping to ready exactly once,
 * whatever the pre-existing batch does — and never stays bootstrapping.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { BootstrapTracker, type BootstrapMode, type Reconcile } from "../../lib/agent/bootstrap.ts";
import { dispatch, type AgentInfo } from "../../lib/agent/dispatch.ts";
import { Registry } from "../../lib/registry.ts";
import type { Request, RequestBody } from "../../lib/wire/messages.ts";
import { containerInfo, recordingLogger, until } from "./_fixtures.ts";

const T0 = Date.UTC(2025, 0, 1);

interface Harness {
  tracker: BootstrapTracker;
  records: ReturnType<typeof recordingLogger>["records"];
  reconcileCalls: () => number;
  clock: { t: number };
}

const trackers: BootstrapTracker[] = [];
afterEach(() => {
  for (const tracker of trackers.splice(0)) tracker.stop();
});

/** A tracker with a fake reconcile and a hand-moved clock; `deadlineMs` is a real timer. */
function harness(
  mode: BootstrapMode,
  options: { deadlineMs?: number; reconcile?: Reconcile; stallMs?: number; reconcileTimeoutMs?: number; retryMs?: number } = {},
): Harness {
  const { log, records } = recordingLogger();
  const clock = { t: T0 };
  let calls = 0;
  const reconcile = options.reconcile ?? (async () => 3);
  const tracker = new BootstrapTracker({
    mode,
    deadlineMs: options.deadlineMs ?? 5000,
    ...(options.stallMs === undefined ? {} : { stallMs: options.stallMs }),
    ...(options.reconcileTimeoutMs === undefined ? {} : { reconcileTimeoutMs: options.reconcileTimeoutMs }),
    ...(options.retryMs === undefined ? {} : { retryMs: options.retryMs }),
    log,
    now: () => clock.t,
    reconcile: () => {
      calls += 1;
      return reconcile();
    },
  });
  trackers.push(tracker);
  return { tracker, records, reconcileCalls: () => calls, clock };
}

/** A reconcile the test finishes by hand. */
function heldReconcile(): { reconcile: Reconcile; finish: (found: Awaited<ReturnType<Reconcile>>) => void } {
  let finish: (found: Awaited<ReturnType<Reconcile>>) => void = () => {};
  const reconcile: Reconcile = () => new Promise((resolve) => (finish = resolve));
  return { reconcile, finish: (found) => finish(found) };
}

/** Resolves true if `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([promise.then(() => true), late]).finally(() => clearTimeout(timer));
}

const warnings = (h: Harness): string[] => h.records.filter((r) => r.level === "warn").map((r) => r.msg);

describe("BootstrapTracker without a bootstrap (mode none)", () => {
  test("is ready at once, completed by nothing, without enumerating", async () => {
    const h = harness("none");
    h.tracker.start();
    expect(h.tracker.state).toBe("ready");
    await h.tracker.whenReady();
    expect(h.tracker.status()).toEqual({
      state: "ready",
      mode: "none",
      completedBy: "none",
      containers: 0,
      startedAt: new Date(T0).toISOString(),
      readyAt: new Date(T0).toISOString(),
      durationMs: 0,
      warning: null,
    });
    expect(h.reconcileCalls()).toBe(0);
  });
});

describe("BootstrapTracker enumerating itself (mode reconcile)", () => {
  test("is ready once its enumeration returns, with what it found", async () => {
    const h = harness("reconcile", { reconcile: async () => 7 });
    h.tracker.start();
    h.clock.t += 42;
    await h.tracker.whenReady();
    expect(h.tracker.status()).toMatchObject({ state: "ready", completedBy: "reconcile", containers: 7, durationMs: 42, warning: null });
  });

  test("ends bootstrapping at once on an empty node", async () => {
    const h = harness("reconcile", { reconcile: async () => 0 });
    h.tracker.start();
    expect(await settlesWithin(h.tracker.whenReady(), 50)).toBe(true);
    expect(h.tracker.status()).toMatchObject({ completedBy: "reconcile", containers: 0, warning: null });
  });

  test("is never ready while it has read nothing: it stays bootstrapping, says why, and looks again until a read succeeds", async () => {
    let attempt = 0;
    const unread = { unread: "no runtime state root is readable here (/run/runc)" };
    const h = harness("reconcile", { retryMs: 20, reconcile: async () => (++attempt < 3 ? unread : 4) });
    h.tracker.start();
    await Bun.sleep(5);
    expect(h.tracker.status()).toMatchObject({ state: "bootstrapping", completedBy: null });
    expect(h.tracker.status().warning).toBe("no runtime state root is readable here (/run/runc): not ready until runtime state is read (retrying every 20 ms)");
    // Said once as an error, then quietly on each retry.
    expect(h.records.filter((r) => r.level === "error").map((r) => r.msg)).toEqual([h.tracker.status().warning as string]);
    expect(await settlesWithin(h.tracker.whenReady(), 1000)).toBe(true);
    expect(h.reconcileCalls()).toBe(3);
    expect(h.tracker.status()).toMatchObject({ state: "ready", completedBy: "reconcile", containers: 4, warning: null });
  });

  test("a batch that arrives while it retries makes it ready", async () => {
    const h = harness("reconcile", { retryMs: 10_000, reconcile: async () => ({ unread: "no process visible" }) });
    h.tracker.start();
    await Bun.sleep(5);
    h.tracker.batchBegin(1);
    h.tracker.batchRegistered(1);
    h.tracker.batchEnd(1, 1);
    expect(h.tracker.status()).toMatchObject({ state: "ready", completedBy: "batch", containers: 1 });
  });

  test("is ready, incomplete, with a warning naming what it missed, when some containers could not be read", async () => {
    const h = harness("reconcile", { reconcile: async () => ({ containers: 2, missed: "3 running containers could not be read" }) });
    h.tracker.start();
    await h.tracker.whenReady();
    expect(h.tracker.status()).toMatchObject({
      state: "ready",
      completedBy: "reconcile",
      containers: 2,
      warning: "3 running containers could not be read: ready without them",
    });
    expect(warnings(h)).toContain("3 running containers could not be read: ready without them");
    expect(h.tracker.incomplete).toBe(true);
  });

  test("a whole enumeration is not incomplete", async () => {
    const h = harness("reconcile", { reconcile: async () => 7 });
    h.tracker.start();
    await h.tracker.whenReady();
    expect(h.tracker.incomplete).toBe(false);
  });

  test("is not ready when its enumeration throws, and says so", async () => {
    const h = harness("reconcile", {
      reconcile: async () => {
        throw new Error("EIO: disk on fire");
      },
    });
    h.tracker.start();
    expect(await settlesWithin(h.tracker.whenReady(), 100)).toBe(false);
    expect(h.tracker.status().warning).toStartWith("enumerating runtime state failed: EIO: disk on fire: not ready");
  });
});

describe("BootstrapTracker waiting for the hook's batch (mode hook)", () => {
  test("stays bootstrapping until a batch or the deadline", () => {
    const h = harness("hook");
    h.tracker.start();
    expect(h.tracker.state).toBe("bootstrapping");
    expect(h.tracker.status()).toMatchObject({ completedBy: null, readyAt: null, durationMs: null });
    expect(h.reconcileCalls()).toBe(0);
  });

  test("is ready when the batch ends, counting what the batch's session registered", async () => {
    const h = harness("hook");
    h.tracker.start();
    h.tracker.batchBegin(1);
    h.tracker.batchRegistered(1);
    h.tracker.batchRegistered(1);
    h.tracker.batchRegistered(2); // another connection: not part of the batch
    h.clock.t += 15;
    h.tracker.batchEnd(1, 2);
    await h.tracker.whenReady();
    expect(h.tracker.status()).toMatchObject({ state: "ready", completedBy: "batch", containers: 2, durationMs: 15, warning: null });
    expect(h.reconcileCalls()).toBe(0);
  });

  test("ends bootstrapping at once on an empty batch (a node with no containers)", () => {
    const h = harness("hook");
    h.tracker.start();
    h.tracker.batchBegin(1);
    h.tracker.batchEnd(1, 0);
    expect(h.tracker.status()).toMatchObject({ state: "ready", completedBy: "batch", containers: 0, warning: null });
  });

  test("warns when the batch announces a different count than it sent", () => {
    const h = harness("hook");
    h.tracker.start();
    h.tracker.batchBegin(4);
    h.tracker.batchRegistered(4);
    h.tracker.batchEnd(4, 3);
    expect(h.tracker.status()).toMatchObject({
      state: "ready",
      completedBy: "batch",
      containers: 1,
      warning: "bootstrap batch announced 3 containers but sent 1",
    });
    expect(warnings(h)).toContain("bootstrap batch announced 3 containers but sent 1");
    expect(h.tracker.incomplete).toBe(true);
  });

  test("falls back to its own enumeration when no batch arrives before the deadline", async () => {
    const h = harness("hook", { deadlineMs: 30, reconcile: async () => 5 });
    h.tracker.start();
    expect(await settlesWithin(h.tracker.whenReady(), 1000)).toBe(true);
    expect(h.tracker.status()).toMatchObject({ completedBy: "reconcile", containers: 5, warning: "no bootstrap batch arrived within 30 ms" });
    expect(warnings(h)).toContain("no bootstrap batch arrived within 30 ms; enumerating runtime state itself");
  });

  test("is not ready when the deadline passes and it can read nothing itself (the agent created before the hook was installed)", async () => {
    const h = harness("hook", { deadlineMs: 30, reconcile: async () => ({ unread: "no runtime state root is readable here (/run/runc)" }) });
    h.tracker.start();
    expect(await settlesWithin(h.tracker.whenReady(), 200)).toBe(false);
    expect(h.tracker.status()).toMatchObject({ state: "bootstrapping", completedBy: null });
    expect(h.tracker.status().warning).toStartWith("no bootstrap batch arrived within 30 ms; no runtime state root is readable here");
  });

  test("is not ready when the deadline passes and enumerating throws", async () => {
    const h = harness("hook", {
      deadlineMs: 30,
      reconcile: () => Promise.reject(new Error("boom")),
    });
    h.tracker.start();
    expect(await settlesWithin(h.tracker.whenReady(), 200)).toBe(false);
    expect(h.tracker.status().warning).toContain("enumerating runtime state failed: boom");
  });

  test("does not cut a begun batch short at the deadline", async () => {
    const h = harness("hook", { deadlineMs: 30 });
    h.tracker.start();
    h.tracker.batchBegin(1);
    await Bun.sleep(80);
    expect(h.tracker.state).toBe("bootstrapping");
    expect(h.reconcileCalls()).toBe(0);
    h.tracker.batchEnd(1, 0);
    expect(h.tracker.status().completedBy).toBe("batch");
  });

  test("falls back to its own enumeration when the batch's connection closes before its end", async () => {
    const h = harness("hook", { reconcile: async () => 9 });
    h.tracker.start();
    h.tracker.batchBegin(3);
    h.tracker.batchRegistered(3);
    h.tracker.batchRegistered(3);
    h.tracker.sessionClosed(3);
    expect(await settlesWithin(h.tracker.whenReady(), 100)).toBe(true);
    expect(h.tracker.status()).toMatchObject({
      completedBy: "reconcile",
      containers: 9,
      warning: "bootstrap batch connection closed after 2 containers, before its end",
    });
  });

  test("ignores the closing of connections that carry no batch", () => {
    const h = harness("hook");
    h.tracker.start();
    h.tracker.sessionClosed(1);
    h.tracker.batchBegin(2);
    h.tracker.sessionClosed(1);
    h.tracker.batchEnd(2, 0);
    h.tracker.sessionClosed(2);
    expect(h.reconcileCalls()).toBe(0);
    expect(h.tracker.status().completedBy).toBe("batch");
  });

  test("follows a newer batch, and the older batch's connection closing changes nothing", () => {
    const h = harness("hook");
    h.tracker.start();
    h.tracker.batchBegin(1);
    h.tracker.batchRegistered(1);
    h.tracker.batchBegin(2);
    expect(warnings(h)).toContain("a second bootstrap batch began; following the newer one");
    h.tracker.sessionClosed(1);
    h.tracker.batchRegistered(1);
    h.tracker.batchRegistered(2);
    expect(h.reconcileCalls()).toBe(0);
    h.tracker.batchEnd(2, 1);
    expect(h.tracker.status()).toMatchObject({ completedBy: "batch", containers: 1, warning: null });
  });

  test("lets a batch that ends while its own enumeration runs decide, and enumerates only once", async () => {
    const held = heldReconcile();
    const h = harness("hook", { deadlineMs: 30, reconcile: held.reconcile });
    h.tracker.start();
    await until(() => h.reconcileCalls() === 1);
    // The batch shows up late, then its connection dies: no second enumeration.
    h.tracker.batchBegin(1);
    h.tracker.sessionClosed(1);
    h.tracker.batchBegin(2);
    h.tracker.batchRegistered(2);
    h.tracker.batchEnd(2, 1);
    expect(h.tracker.status()).toMatchObject({ state: "ready", completedBy: "batch", containers: 1 });
    held.finish(4);
    await Bun.sleep(0);
    expect(h.tracker.status()).toMatchObject({ completedBy: "batch", containers: 1 });
    expect(h.reconcileCalls()).toBe(1);
  });

  test("keeps the first way it became ready when a late batch ends", async () => {
    const h = harness("hook", { deadlineMs: 30, reconcile: async () => 2 });
    h.tracker.start();
    await h.tracker.whenReady();
    const before = h.tracker.status();
    h.tracker.batchBegin(1);
    h.tracker.batchEnd(1, 0);
    expect(h.tracker.status()).toEqual(before);
  });

  test("resolves every waiter, including ones that asked before the end", async () => {
    const h = harness("hook");
    h.tracker.start();
    const early = [h.tracker.whenReady(), h.tracker.whenReady()];
    expect(await settlesWithin(Promise.race(early), 20)).toBe(false);
    h.tracker.batchBegin(1);
    h.tracker.batchEnd(1, 0);
    expect(await settlesWithin(Promise.all([...early, h.tracker.whenReady()]), 50)).toBe(true);
  });

  test("stop() cancels the deadline", async () => {
    const h = harness("hook", { deadlineMs: 30 });
    h.tracker.start();
    h.tracker.stop();
    await Bun.sleep(60);
    expect(h.reconcileCalls()).toBe(0);
    expect(h.tracker.state).toBe("bootstrapping");
  });
});

describe("dispatch() of the bootstrap ops", () => {
  let nextId = 1;
  const req = (body: RequestBody): Request => ({ v: 1, id: nextId++, ...body }) as Request;

  function agent(mode: BootstrapMode = "hook"): { registry: Registry; info: AgentInfo; h: Harness } {
    const h = harness(mode);
    h.tracker.start();
    return { registry: new Registry(), info: { version: "1.0.0", startedAt: new Date(T0), socket: "/run/armor/armor.sock", bootstrap: h.tracker }, h };
  }

  test("status reports the bootstrap while it runs and once it is done", () => {
    const { registry, info, h } = agent();
    const during = dispatch(req({ op: "status" }), registry, info, 1);
    expect(during).toMatchObject({
      ok: true,
      result: { state: "bootstrapping", socket: "/run/armor/armor.sock", bootstrap: { state: "bootstrapping", mode: "hook", completedBy: null } },
    });
    h.tracker.batchBegin(1);
    h.tracker.batchEnd(1, 0);
    const after = dispatch(req({ op: "status" }), registry, info, 1);
    expect(after).toMatchObject({ ok: true, result: { state: "ready", bootstrap: { completedBy: "batch", containers: 0 } } });
  });

  test("ping reports the state", () => {
    const { registry, info } = agent();
    expect(dispatch(req({ op: "ping" }), registry, info)).toMatchObject({ result: { state: "bootstrapping" } });
  });

  test("bootstrap-begin, registers of source bootstrap and bootstrap-end on one session end bootstrapping", () => {
    const { registry, info, h } = agent();
    expect(dispatch(req({ op: "bootstrap-begin" }), registry, info, 5)).toMatchObject({ ok: true, result: { state: "bootstrapping" } });
    dispatch(req({ op: "register", source: "bootstrap", container: containerInfo({ id: "a", pid: 1 }) }), registry, info, 5);
    // A live hook on another connection, and a stale entry refused as such: only the batch's own count.
    dispatch(req({ op: "register", source: "hook", container: containerInfo({ id: "b", pid: 2 }) }), registry, info, 6);
    dispatch(req({ op: "unregister", container: "gone" }), registry, info, 7);
    const refused = dispatch(req({ op: "register", source: "bootstrap", container: containerInfo({ id: "gone", pid: 3 }) }), registry, info, 5);
    expect(refused).toMatchObject({ ok: true, result: { container: null, outcome: "ignored" } });
    expect(dispatch(req({ op: "bootstrap-end", count: 2 }), registry, info, 5)).toMatchObject({ ok: true, result: { state: "ready" } });
    expect(h.tracker.status()).toMatchObject({ completedBy: "batch", containers: 2, warning: null });
    expect(registry.list().map((c) => [c.id, c.source])).toEqual([
      ["a", "bootstrap"],
      ["b", "hook"],
    ]);
  });

  test("an agent without a tracker answers the bootstrap ops as ready", () => {
    const registry = new Registry();
    const info: AgentInfo = { version: "1.0.0", startedAt: new Date(T0) };
    expect(dispatch(req({ op: "bootstrap-begin" }), registry, info)).toMatchObject({ ok: true, result: { state: "ready" } });
    expect(dispatch(req({ op: "bootstrap-end", count: 0 }), registry, info)).toMatchObject({ ok: true, result: { state: "ready" } });
    expect(dispatch(req({ op: "status" }), registry, info)).toMatchObject({ result: { state: "ready", bootstrap: { mode: "none", completedBy: "none" } } });
  });
});

describe("BootstrapTracker against misbehaving batches and enumerations", () => {
  test("a batch that stops making progress falls back, even while its connection stays open", async () => {
    const h = harness("hook", { stallMs: 40 });
    h.tracker.start();
    h.tracker.batchBegin(1);
    h.tracker.batchRegistered(1);
    await until(() => h.tracker.state === "ready", 1000);
    expect(h.reconcileCalls()).toBe(1);
    expect(h.tracker.status()).toMatchObject({ completedBy: "reconcile", warning: "bootstrap batch stalled for 40 ms after 1 containers" });
  });

  test("a batch that keeps sending is not cut short by the stall timer", async () => {
    const h = harness("hook", { stallMs: 60 });
    h.tracker.start();
    h.tracker.batchBegin(1);
    for (let i = 0; i < 5; i++) {
      await Bun.sleep(30);
      h.tracker.batchRegistered(1);
    }
    expect(h.tracker.state).toBe("bootstrapping");
    h.tracker.batchEnd(1, 5);
    expect(h.tracker.status()).toMatchObject({ state: "ready", completedBy: "batch", containers: 5, warning: null });
    expect(h.reconcileCalls()).toBe(0);
  });

  test("a stray bootstrap-end from another connection does not discard the batch in flight", () => {
    const h = harness("hook");
    h.tracker.start();
    h.tracker.batchBegin(1);
    h.tracker.batchRegistered(1);
    h.tracker.batchEnd(2, 0);
    expect(h.tracker.state).toBe("bootstrapping");
    expect(warnings(h)).toContain("ignoring a bootstrap-end from a connection that began no batch");
    h.tracker.batchRegistered(1);
    h.tracker.batchEnd(1, 2);
    expect(h.tracker.status()).toMatchObject({ state: "ready", completedBy: "batch", containers: 2, warning: null });
  });

  test("an enumeration that never returns is abandoned and tried again: not ready meanwhile", async () => {
    let attempt = 0;
    const h = harness("reconcile", { retryMs: 10, reconcileTimeoutMs: 50, reconcile: () => (++attempt === 1 ? new Promise(() => {}) : Promise.resolve(2)) });
    h.tracker.start();
    expect(await settlesWithin(h.tracker.whenReady(), 1000)).toBe(true);
    expect(h.tracker.status()).toMatchObject({ completedBy: "reconcile", containers: 2 });
    expect(attempt).toBe(2);
  });
});
