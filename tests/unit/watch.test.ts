/** The watch stream and gates, over a real socket: lib/agent/watch.ts behind lib/agent/server.ts. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { UnixSocketListener } from "bun";
import { join } from "node:path";
import { AgentClient } from "../../lib/client.ts";
import { createConsumers, type ConsumerSide } from "../../lib/agent/consumers.ts";
import { serve } from "../../lib/agent/server.ts";
import { WatchHub, type GatePolicy } from "../../lib/agent/watch.ts";
import { Registry } from "../../lib/registry.ts";
import { RawClient } from "./_raw-client.ts";
import { containerInfo, recordingLogger, rejectionOf, tempDir } from "./_fixtures.ts";

let dir: { dir: string; remove: () => void };
let socketPath: string;
let registry: Registry;
let consumers: ConsumerSide;
let listener: UnixSocketListener<unknown> | undefined;
let clients: Array<{ close: () => void }>;

beforeEach(() => {
  dir = tempDir();
  socketPath = join(dir.dir, "agent.sock");
  registry = new Registry(undefined, { historySize: 50 });
  clients = [];
});

afterEach(() => {
  for (const client of clients) client.close();
  consumers.stop();
  listener?.stop(true);
  dir.remove();
});

function start(gatePolicy: GatePolicy = "open"): void {
  const { log } = recordingLogger();
  consumers = createConsumers({
    registry,
    log,
    gatePolicy,
    sweepIntervalMs: 60_000,
    readLink: () => {
      throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
    },
    readStat: () => {
      throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
    },
  });
  listener = serve({ socketPath, registry, info: { version: "t", startedAt: new Date(), consumers }, log });
}

async function raw(): Promise<RawClient> {
  const client = await RawClient.connect(socketPath);
  clients.push(client);
  return client;
}

async function client(): Promise<AgentClient> {
  const c = await AgentClient.connect({ socket: socketPath, timeoutMs: 5000 });
  clients.push(c);
  return c;
}

/** A gate connection that has had its answer and snapshot. */
async function gate(name: string, timeoutMs = 5000): Promise<RawClient> {
  const g = await raw();
  g.send({ v: 1, id: 1, op: "watch", gate: { name, timeoutMs } });
  expect(await g.take(2)).toMatchObject([{ ok: true, result: { watching: true } }, { event: "snapshot" }]);
  return g;
}

const register = (c: AgentClient, id: string, extra: { deadline?: number } = {}) =>
  c.request({ op: "register", source: "hook", container: containerInfo({ id }), ...extra }) as Promise<{
    container: unknown;
    outcome: string;
    warning?: string;
  }>;

describe("watch: a snapshot, then every change, with no gap", () => {
  test("answers with the epoch and revision, then a snapshot of everything held at that revision", async () => {
    start();
    registry.register(containerInfo({ id: "a" }), "hook");
    registry.register(containerInfo({ id: "b" }), "bootstrap");
    const w = await raw();
    w.send({ v: 1, id: 7, op: "watch" });
    const [answer, snapshot] = (await w.take(2)) as [Record<string, unknown>, { containers: Array<{ id: string }> }];
    expect(answer).toEqual({ v: 1, id: 7, ok: true, result: { watching: true, epoch: registry.epoch, rev: 2, resumed: false } });
    expect(snapshot).toMatchObject({ v: 1, event: "snapshot", epoch: registry.epoch, rev: 2 });
    expect(snapshot.containers.map((c) => c.id)).toEqual(["a", "b"]);
    registry.unregister("a");
    expect((await w.take(1))[0]).toMatchObject({ v: 1, event: "remove", epoch: registry.epoch, rev: 3, source: "unregister", container: { id: "a" } });
  });

  test("watchers that subscribe at one revision share one snapshot, built once; a change makes the next one afresh", () => {
    const hub = new WatchHub({ registry, log: recordingLogger().log, policy: "open" });
    registry.register(containerInfo({ id: "a" }), "hook");
    const sent: object[][] = [[], [], []];
    const peer = (i: number) => ({ send: (message: object) => void sent[i]?.push(message), close: () => {} });
    hub.watch(peer(0), { v: 1, id: 1, op: "watch" });
    hub.watch(peer(1), { v: 1, id: 1, op: "watch" });
    expect(sent[0]?.[1]).toMatchObject({ event: "snapshot", rev: 1 });
    expect(sent[1]?.[1]).toBe(sent[0]?.[1] as object);
    registry.register(containerInfo({ id: "b" }), "hook");
    hub.watch(peer(2), { v: 1, id: 1, op: "watch" });
    expect(sent[2]?.[1]).toMatchObject({ event: "snapshot", rev: 2 });
    expect(sent[2]?.[1]).not.toBe(sent[0]?.[1] as object);
    hub.stop();
  });

  test("a watcher that connects during a burst of registrations rebuilds exactly the final set, revisions without a gap", async () => {
    start();
    const writer = await client();
    const burst = Array.from({ length: 300 }, (_, i) =>
      i % 3 === 2 ? writer.request({ op: "unregister", container: `c${i - 1}` }) : register(writer, `c${i}`),
    );
    const w = await raw();
    w.send({ v: 1, id: 1, op: "watch" });
    await Promise.all(burst);
    const [, snapshot] = (await w.take(2)) as [unknown, { rev: number; containers: Array<{ id: string }> }];
    const changes = registry.rev - snapshot.rev;
    const events = (await w.take(changes)) as Array<{ rev: number; event: string; container: { id: string } }>;
    const held = new Set(snapshot.containers.map((c) => c.id));
    events.forEach((e, i) => {
      expect(e.rev).toBe(snapshot.rev + i + 1);
      if (e.event === "add") held.add(e.container.id);
      else held.delete(e.container.id);
    });
    expect([...held].sort()).toEqual(
      registry
        .list()
        .map((c) => c.id)
        .sort(),
    );
  });

  test("since {epoch, rev} resumes with exactly the changes after rev", async () => {
    start();
    for (const id of ["a", "b", "c"]) registry.register(containerInfo({ id }), "hook");
    registry.unregister("b");
    const w = await raw();
    w.send({ v: 1, id: 1, op: "watch", since: { epoch: registry.epoch, rev: 2 } });
    expect(await w.take(3)).toMatchObject([
      { ok: true, result: { watching: true, rev: 4, resumed: true } },
      { event: "add", rev: 3, container: { id: "c" } },
      { event: "remove", rev: 4, container: { id: "b" } },
    ]);
    await Bun.sleep(20);
    expect(w.pending).toHaveLength(0);
  });

  test.each([
    ["another agent's epoch", (r: Registry) => ({ epoch: r.epoch === "0" ? "1" : "0", rev: 1 })],
    ["a revision the history no longer holds", (r: Registry) => ({ epoch: r.epoch, rev: 1 })],
    ["a revision from the future", (r: Registry) => ({ epoch: r.epoch, rev: 10_000 })],
  ])("since %s gets a fresh snapshot marked reset", async (_what, since) => {
    start();
    for (let i = 0; i < 60; i++) registry.register(containerInfo({ id: `c${i}` }), "hook");
    const w = await raw();
    w.send({ v: 1, id: 1, op: "watch", since: since(registry) });
    const [answer, snapshot] = (await w.take(2)) as [unknown, { containers: unknown[] }];
    expect(answer).toMatchObject({ ok: true, result: { resumed: false, rev: 60 } });
    expect(snapshot).toMatchObject({ event: "snapshot", reset: true, rev: 60 });
    expect(snapshot.containers).toHaveLength(60);
  });

  test("refuses a second watch on the same connection", async () => {
    start();
    const w = await raw();
    w.send({ v: 1, id: 1, op: "watch" });
    await w.take(2);
    w.send({ v: 1, id: 2, op: "watch" });
    expect((await w.take(1))[0]).toMatchObject({ id: 2, ok: false, error: { code: "E_INVALID_REQUEST" } });
  });
});

describe("gates: a live registration is answered once every gate has decided", () => {
  test("the hook's answer waits for the ack; the gate sees the add marked gated, other watchers unmarked", async () => {
    start();
    const g = await gate("policy");
    const w = await raw();
    w.send({ v: 1, id: 1, op: "watch" });
    await w.take(2);
    let answered = false;
    const answer = register(await client(), "x").then((r) => {
      answered = true;
      return r;
    });
    const [add] = (await g.take(1)) as [{ event: string; rev: number; gated?: boolean }];
    expect(add).toMatchObject({ event: "add", rev: 1, gated: true, container: { id: "x" } });
    expect((await w.take(1))[0]).not.toHaveProperty("gated");
    await Bun.sleep(30);
    expect(answered).toBe(false);
    g.send({ v: 1, id: 2, op: "ack", rev: 1 });
    expect(await answer).toEqual({ container: expect.objectContaining({ id: "x" }), outcome: "added" });
    expect((await g.take(1))[0]).toEqual({ v: 1, id: 2, ok: true, result: { rev: 1, counted: true } });
    expect(registry.get("x")).toBeDefined();
  });

  test("a nack refuses the container with the gate's reason, and it is not held", async () => {
    start();
    const g = await gate("policy");
    const w = await raw();
    w.send({ v: 1, id: 1, op: "watch" });
    await w.take(2);
    const refused = rejectionOf(register(await client(), "bad"));
    await g.take(1);
    g.send({ v: 1, id: 2, op: "nack", rev: 1, reason: "image not signed" });
    const err = await refused;
    expect(err.code).toBe("E_AGENT_REJECTED");
    expect(err.message).toBe('agent refused: E_GATE_REFUSED: gate "policy" refused container bad: image not signed');
    expect(registry.get("bad")).toBeUndefined();
    expect(await w.take(2)).toMatchObject([
      { event: "add", rev: 1 },
      { event: "remove", rev: 2, source: "gate", container: { id: "bad" } },
    ]);
  });

  test("waits for every gate, and one nack is enough to refuse", async () => {
    start();
    const [g1, g2] = [await gate("one"), await gate("two")];
    const c = await client();
    const ok = register(c, "both");
    await Promise.all([g1.take(1), g2.take(1)]);
    g1.send({ v: 1, id: 2, op: "ack", rev: 1 });
    await Bun.sleep(30);
    expect(registry.get("both")).toBeDefined();
    g2.send({ v: 1, id: 2, op: "ack", rev: 1 });
    expect((await ok).outcome).toBe("added");
    const refused = rejectionOf(register(c, "no"));
    await Promise.all([g1.take(2), g2.take(2)]);
    g2.send({ v: 1, id: 3, op: "nack", rev: 2, reason: "two says no" });
    expect((await refused).message).toContain('gate "two" refused container no: two says no');
  });

  test("under --gate-policy open a gate that times out lets the container start, saying so in the answer and status", async () => {
    start("open");
    await gate("slow", 50);
    const result = await register(await client(), "late");
    expect(result.outcome).toBe("added");
    expect(result.warning).toBe('gate "slow" did not decide on container late within 50 ms; started under --gate-policy open');
    expect(registry.get("late")).toBeDefined();
    const status = consumers.hub.status();
    expect(status).toMatchObject({ policy: "open", unconfirmed: 1, gates: [{ name: "slow", connected: true, timeouts: 1, acks: 0 }] });
    expect(consumers.renderMetrics()).toContain('armor_gate_decisions_total{gate="slow",result="timeout"} 1');
    expect(consumers.renderMetrics()).toContain("armor_gate_unconfirmed_total 1");
  });

  test("under --gate-policy closed a gate that times out refuses the container", async () => {
    start("closed");
    await gate("slow", 50);
    const err = await rejectionOf(register(await client(), "late"));
    expect(err.message).toContain('E_GATE_REFUSED: gate "slow" did not decide on container late within 50 ms (--gate-policy closed)');
    expect(registry.get("late")).toBeUndefined();
  });

  test.each([
    ["open", "added"],
    ["closed", "refused"],
  ] as const)("a gate that disconnects mid-decision follows --gate-policy %s", async (policy, expected) => {
    start(policy);
    const g = await gate("flaky");
    const answer = register(await client(), "mid").then(
      (r) => r.outcome,
      (err: Error) => (err.message.includes('gate "flaky" disconnected before deciding on container mid') ? "refused" : err.message),
    );
    await g.take(1);
    g.close();
    expect(await answer).toBe(expected);
    expect(consumers.hub.status().gates[0]).toMatchObject({ name: "flaky", connected: false, disconnects: 1 });
  });

  test("never waits beyond the hook's deadline, whatever the gate's own timeout", async () => {
    start("open");
    await gate("patient", 60_000);
    const result = await register(await client(), "hurry", { deadline: Date.now() + 80 });
    expect(result.warning).toMatch(/^gate "patient" did not decide on container hurry within the hook's deadline \(\d+ ms\); started/);
  });

  test("a deadline closer than the answer's margin never waits for the gates", async () => {
    start("closed");
    await gate("patient", 60_000);
    const err = await rejectionOf(register(await client(), "close", { deadline: Date.now() + 5 }));
    // Decided at once by the policy — or, if it arrived after the deadline on a busy machine, not applied at all.
    expect(err.message).toMatch(/within the hook's deadline \(0 ms\) \(--gate-policy closed\)|E_DEADLINE/);
    expect(registry.get("close")).toBeUndefined();
  });

  test("bootstrap adds, removes and unchanged registrations never wait for gates", async () => {
    start("closed");
    const g = await gate("never-answers", 60_000);
    const c = await client();
    registry.register(containerInfo({ id: "same" }), "hook");
    expect(await c.request({ op: "register", source: "bootstrap", container: containerInfo({ id: "pre" }) })).toMatchObject({ outcome: "added" });
    expect(await c.request({ op: "register", source: "hook", container: containerInfo({ id: "same" }) })).toMatchObject({ outcome: "unchanged" });
    expect(await c.request({ op: "unregister", container: "pre" })).toEqual({ removed: true });
    const events = (await g.take(3)) as Array<{ gated?: boolean }>;
    expect(events.every((e) => e.gated === undefined)).toBe(true);
  });

  test("only the registering connection waits: others are answered meanwhile, and its own answers stay in order", async () => {
    start();
    const g = await gate("policy");
    const hook = await raw();
    hook.send({ v: 1, id: 1, op: "register", source: "hook", container: containerInfo({ id: "w" }) });
    hook.send({ v: 1, id: 2, op: "ping" });
    await g.take(1);
    expect(await (await client()).request({ op: "list" })).toMatchObject({ containers: [{ id: "w" }] });
    await Bun.sleep(30);
    expect(hook.pending).toHaveLength(0);
    g.send({ v: 1, id: 2, op: "ack", rev: 1 });
    expect((await hook.take(2)).map((m) => (m as { id: number }).id)).toEqual([1, 2]);
  });

  test("an ack for a revision not waiting on this gate is answered, not counted", async () => {
    start();
    const g = await gate("policy");
    g.send({ v: 1, id: 5, op: "ack", rev: 99 });
    expect(await g.take(1)).toEqual([{ v: 1, id: 5, ok: true, result: { rev: 99, counted: false } }]);
  });

  test("refuses an ack from a connection that is not a gate, and a second gate with a name already connected", async () => {
    start();
    await gate("policy");
    const w = await raw();
    w.send({ v: 1, id: 1, op: "ack", rev: 1 });
    w.send({ v: 1, id: 2, op: "watch", gate: { name: "policy", timeoutMs: 100 } });
    expect(await w.take(2)).toMatchObject([
      { id: 1, ok: false, error: { code: "E_INVALID_REQUEST" } },
      { id: 2, ok: false, error: { code: "E_INVALID_REQUEST", message: 'a gate named "policy" is already connected' } },
    ]);
  });

  test.each([
    [{ name: "has space", timeoutMs: 100 }],
    [{ name: "x".repeat(65), timeoutMs: 100 }],
    [{ name: "ok", timeoutMs: 0 }],
    [{ name: "ok", timeoutMs: 60_001 }],
  ])("refuses gate %p", async (g) => {
    start();
    const w = await raw();
    w.send({ v: 1, id: 1, op: "watch", gate: g });
    expect(await w.take(1)).toMatchObject([{ id: 1, ok: false, error: { code: "E_INVALID_REQUEST" } }]);
  });

  test("the latency of acks is in status and /metrics", async () => {
    start();
    const g = await gate("fast");
    const answer = register(await client(), "m");
    await g.take(1);
    g.send({ v: 1, id: 2, op: "ack", rev: 1 });
    await answer;
    const [s] = consumers.hub.status().gates;
    expect(s).toMatchObject({ name: "fast", acks: 1, pending: 0 });
    expect(s?.latencyMs.mean).toBeGreaterThanOrEqual(0);
    expect(consumers.renderMetrics()).toContain('armor_gate_seconds_count{gate="fast"} 1');
    expect(consumers.renderMetrics()).toContain("armor_gates 1");
  });
});
