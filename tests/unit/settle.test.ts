import { describe, expect, test } from "bun:test";
import { scheduleSettlePass, settlePass, type SettleSource } from "../../lib/agent/settle.ts";
import { Registry } from "../../lib/registry.ts";
import { containerInfo, recordingLogger } from "./_fixtures.ts";

/** Runtime state listing `ids`, counting the containers it is asked to describe. */
function source(ids: string[], gone: string[] = []): SettleSource<{ id: string }> & { described: string[] } {
  const described: string[] = [];
  return {
    described,
    list: async () => ids.map((id) => ({ id })),
    describe: async ({ id }) => {
      described.push(id);
      return gone.includes(id) ? undefined : containerInfo({ id, bundle: `/b/${id}` });
    },
  };
}

describe("settlePass()", () => {
  test("adds, as pre-existing, the running containers the agent does not hold, describing only those", async () => {
    const registry = new Registry();
    registry.register(containerInfo({ id: "held" }), "hook");
    const state = source(["held", "missed"]);
    expect(await settlePass(registry, state)).toBe(1);
    expect(state.described).toEqual(["missed"]);
    expect(registry.get("missed")?.source).toBe("bootstrap");
    expect(registry.get("held")?.source).toBe("hook");
  });

  test("does not bring back a container a poststop removed meanwhile", async () => {
    const registry = new Registry();
    registry.register(containerInfo({ id: "stopped" }), "hook");
    registry.unregister("stopped");
    expect(await settlePass(registry, source(["stopped"]))).toBe(0);
    expect(registry.get("stopped")).toBeUndefined();
  });

  test("skips a container that stopped while it was being described", async () => {
    const registry = new Registry();
    expect(await settlePass(registry, source(["brief"], ["brief"]))).toBe(0);
    expect(registry.size).toBe(0);
  });
});

describe("scheduleSettlePass()", () => {
  test("runs once, after its delay and not before the agent is ready, and warns about what it found", async () => {
    const registry = new Registry();
    const { log, records } = recordingLogger();
    let ready!: () => void;
    const isReady = new Promise<void>((resolve) => (ready = resolve));
    const state = source(["missed"]);
    const found: number[] = [];
    scheduleSettlePass(registry, state, { delayMs: 5, ready: () => isReady, log, found: (count) => found.push(count) });
    await Bun.sleep(30);
    expect(state.described).toEqual([]);
    ready();
    for (const deadline = Date.now() + 2000; !registry.get("missed") && Date.now() < deadline;) await Bun.sleep(2);
    expect(registry.get("missed")?.source).toBe("bootstrap");
    expect(records.find((r) => r.level === "warn")?.fields).toEqual({ added: 1, afterMs: 5 });
    expect(found).toEqual([1]);
  });

  test("stopped before its time, it does nothing", async () => {
    const registry = new Registry();
    const state = source(["missed"]);
    const pass = scheduleSettlePass(registry, state, { delayMs: 5, ready: async () => {}, log: recordingLogger().log });
    pass.stop();
    await Bun.sleep(20);
    expect(state.described).toEqual([]);
  });
});
