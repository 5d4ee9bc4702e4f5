/**
 * Seeded fuzzing of both edges: thousands of random and mutated frames against
 * the agent's server, and of OCI state/config documents against runHook(). The
 * agent never fails internally, never holds an invalid record, keeps its index
 * consistent, and answers the next valid client; the hook always ends with one
 * line and a documented status, never an internal error.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { UnixSocketListener } from "bun";
import { join } from "node:path";
import * as v from "valibot";
import { AgentClient } from "../../lib/client.ts";
import { ArmorError } from "../../lib/errors.ts";
import { runHook } from "../../lib/hook/run.ts";
import { readBoundedText } from "../../lib/hook/stdin.ts";
import { readBundleConfig } from "../../lib/oci/bundle.ts";
import { MAX_ANNOTATIONS, parseState } from "../../lib/oci/state.ts";
import { Registry } from "../../lib/registry.ts";
import { serve } from "../../lib/agent/server.ts";
import { RequestSchema } from "../../lib/wire/messages.ts";
import { armorErrorOf, containerInfo, recordingLogger, rejectionOf, tempDir } from "./_fixtures.ts";
import { fuzzConfig, fuzzFrame, Fuzzer, fuzzState, registryProblems, trackCollisions } from "./_fuzz.ts";
import { RawClient } from "./_raw-client.ts";

const SEED = Number(process.env.ARMOR_FUZZ_SEED ?? 20250101);

describe("the agent's server under fuzzed frames", () => {
  let tmp: { dir: string; remove: () => void };
  let listener: UnixSocketListener<unknown>;
  let registry: Registry;
  let logs: ReturnType<typeof recordingLogger>;
  let socket: string;

  beforeEach(() => {
    tmp = tempDir();
    socket = join(tmp.dir, "agent.sock");
    registry = new Registry();
    logs = recordingLogger();
    listener = serve({ socketPath: socket, registry, info: { version: "fuzz", startedAt: new Date() }, log: logs.log });
  });

  afterEach(() => {
    listener.stop(true);
    tmp.remove();
  });

  /** Takes `count` answers, skipping nothing: the fuzz never subscribes to events. */
  const answers = async (client: RawClient, count: number): Promise<unknown[]> => client.take(count, 5000);

  test(`3,000 frames (seed ${SEED}): one answer each, no internal error, a consistent registry, and the next client is served`, async () => {
    const f = new Fuzzer(SEED);
    const kinds = new Map<string, number>();
    const collided = trackCollisions(registry);
    let client = await RawClient.connect(socket);
    let pending = 0;
    for (let i = 0; i < 3000; i++) {
      const frame = fuzzFrame(f, i);
      kinds.set(frame.kind, (kinds.get(frame.kind) ?? 0) + 1);
      client.write(frame.bytes);
      pending += 1;
      if (frame.fatal) {
        const [answer] = await answers(client, pending).then((all) => all.slice(-1));
        expect(answer).toMatchObject({ ok: false, id: null });
        expect(await client.closesWithin(2000)).toBe(true);
        client = await RawClient.connect(socket);
        pending = 0;
      } else if (pending >= 25 || i === 2999) {
        const got = await answers(client, pending);
        for (const answer of got) expect(answer).toHaveProperty("ok");
        pending = 0;
      }
      if (i % 500 === 499) {
        expect(registryProblems(registry, collided)).toEqual([]);
        const next = await AgentClient.connect({ socket, timeoutMs: 2000 });
        expect(await next.request({ op: "register", source: "hook", container: containerInfo({ id: `valid${i}` }) })).toMatchObject({ outcome: "added" });
        expect(await next.request({ op: "unregister", container: `valid${i}` })).toEqual({ removed: true });
        next.close();
      }
    }
    client.close();
    expect(registryProblems(registry, collided)).toEqual([]);
    expect(logs.records.filter((r) => r.level === "error")).toEqual([]);
    // The corpus covers every kind of frame.
    expect([...kinds.keys()].sort()).toEqual(["bytes", "field", "header", "json", "text", "valid"]);
  }, 60_000);
});

describe("the hook under fuzzed OCI documents", () => {
  test(`3,000 state and config documents (seed ${SEED}): one line, a documented status, never an internal error`, async () => {
    const f = new Fuzzer(SEED + 1);
    const statuses = new Map<number, number>();
    for (let i = 0; i < 3000; i++) {
      const stdin = fuzzState(f, f.pick([4242, 4242, 0, 77]), "/b");
      const config = fuzzConfig(f);
      const outcome = await runHook({
        argv: f.pick([[], ["createRuntime"], ["poststop"], ["createRuntime", "--fail-policy", "closed"]]),
        readStdin: async () => stdin,
        readText: async (path) => {
          if (path !== "/b/config.json") throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
          return config;
        },
        readLink: (path) => {
          if (!path.startsWith("/proc/4242/")) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
          return `${path.slice(path.lastIndexOf("/") + 1)}:[402653${i % 1000}]`;
        },
        statIno: () => 4242,
        // The agent's own check: anything its schema refuses is refused, as over the socket.
        callAgent: async (_options, body) => {
          const parsed = v.safeParse(RequestSchema, { v: 1, id: 1, ...body });
          if (!parsed.success) throw new ArmorError("E_AGENT_REJECTED", "agent refused: E_INVALID_REQUEST");
          if (f.chance(0.1)) throw new ArmorError("E_AGENT_UNREACHABLE", "down");
          const request = parsed.output;
          if (request.op === "register")
            return { container: { ...request.container, source: "hook", registeredAt: "2025-01-01T00:00:00.000Z" }, outcome: "added" };
          return { removed: true };
        },
        bootstrapRunning: () => false,
        spawnDetached: () => {},
        version: "fuzz",
        spool: async () => ({ written: "/s/x.json" }),
        dirExists: async () => true,
      });
      statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1);
      expect([0, 2, 3, 4, 5, 6, 7]).toContain(outcome.status);
      const line = outcome.stderr ?? "";
      expect(line).not.toMatch(/[\r\n]/);
      if (outcome.status !== 0) expect(line).toMatch(/^armor-hook: E_[A-Z_]+: /);
    }
    // Both valid and broken documents were seen.
    expect(statuses.get(0)).toBeGreaterThan(100);
    expect(statuses.get(3)).toBeGreaterThan(100);
  }, 60_000);
});

describe("input bounds", () => {
  const chunks = (size: number, count: number): { stream: ReadableStream<Uint8Array>; pulled: () => number } => {
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled >= count) return controller.close();
        pulled += 1;
        controller.enqueue(new Uint8Array(size).fill(0x20));
      },
    });
    return { stream, pulled: () => pulled };
  };

  test("readBoundedText() refuses stdin past the limit as soon as it passes it, without reading the rest", async () => {
    const endless = chunks(64 * 1024, 1_000_000);
    const error = await rejectionOf(readBoundedText(endless.stream, 1024 * 1024));
    expect(error.code).toBe("E_STATE");
    expect(error.message).toBe("OCI state on stdin is larger than 1048576 bytes");
    expect(endless.pulled()).toBeLessThan(20);
  });

  test("readBoundedText() reads a document of any chunking up to the limit", async () => {
    expect(await readBoundedText(chunks(1000, 3).stream, 3000)).toBe(" ".repeat(3000));
  });

  const annotations = (n: number): Record<string, string> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]));

  test(`the state may carry ${MAX_ANNOTATIONS} annotations, not one more`, () => {
    expect(parseState(JSON.stringify({ id: "a", annotations: annotations(MAX_ANNOTATIONS) })).annotations).toBeDefined();
    const error = armorErrorOf(() => parseState(JSON.stringify({ id: "a", annotations: annotations(MAX_ANNOTATIONS + 1) })));
    expect(error.code).toBe("E_STATE");
    expect(error.message).toBe(`OCI state on stdin: annotations: more than ${MAX_ANNOTATIONS} annotations`);
  });

  test(`config.json may carry ${MAX_ANNOTATIONS} annotations, not one more`, async () => {
    const read = (n: number) => readBundleConfig("/b", async () => JSON.stringify({ annotations: annotations(n) }));
    expect(Object.keys((await read(MAX_ANNOTATIONS)).annotations)).toHaveLength(MAX_ANNOTATIONS);
    const error = await rejectionOf(read(MAX_ANNOTATIONS + 1));
    expect(error.code).toBe("E_BUNDLE");
    expect(error.message).toContain(`more than ${MAX_ANNOTATIONS} annotations`);
  });
});
