import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { UnixSocketListener } from "bun";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hookRecordHandler, hookRecordOf, type AnsweredHookCall, type HookReport } from "../../lib/agent/hook-records.ts";
import { serve } from "../../lib/agent/server.ts";
import { callAgent } from "../../lib/client.ts";
import { hookLogRecordSchema } from "../../lib/hook-log-record.ts";
import { Registry } from "../../lib/registry.ts";
import { appendLogLine } from "../../lib/rotating-log.ts";
import * as v from "valibot";
import { RawClient } from "./_raw-client.ts";
import { containerInfo, recordingLogger, tempDir } from "./_fixtures.ts";

const REPORT: HookReport = { pid: 777, ms: 12.345, maxBytes: 8192, keep: 3 };
const NOW = new Date("2026-11-27T03:00:00.000Z");

describe("hookRecordOf()", () => {
  test("a registration the agent confirmed with a warning (a gate did not decide) is logged at warn, with it", () => {
    const warning = 'gate "slow" did not decide on container abc within 500 ms; started under --gate-policy open';
    const record = hookRecordOf({ op: "register", container: "abc", held: null, warning }, REPORT, NOW);
    expect(record).toMatchObject({ level: "warn", result: "registered", status: 0, warning });
    expect(v.parse(hookLogRecordSchema(), record)).toEqual(record);
  });

  test("takes the call from the agent and only pid and duration from the hook", () => {
    const call: AnsweredHookCall = {
      op: "register",
      container: "abc",
      held: { pod: { namespace: "shop", name: "web-0", uid: null }, containerName: "nginx" },
    };
    const record = hookRecordOf(call, REPORT, NOW);
    expect(record).toEqual({
      time: "2026-11-27T03:00:00.000Z",
      level: "info",
      result: "registered",
      status: 0,
      ms: 12.35,
      pid: 777,
      stage: "createRuntime",
      container: "abc",
      pod: "shop/web-0",
      containerName: "nginx",
    });
    expect(v.parse(hookLogRecordSchema(), record)).toEqual(record);
  });

  test("an unregister of a container the agent never held names no pod", () => {
    expect(hookRecordOf({ op: "unregister", container: "x", held: null }, REPORT, NOW)).toMatchObject({
      result: "unregistered",
      stage: "poststop",
      container: "x",
    });
    expect(hookRecordOf({ op: "unregister", container: "x", held: null }, REPORT, NOW).pod).toBeUndefined();
  });
});

describe("hookRecordHandler()", () => {
  test("appends one line with the hook's rotation and tells the observer", () => {
    const appended: Array<{ options: unknown; line: string }> = [];
    const observed: unknown[] = [];
    const handle = hookRecordHandler({
      path: "/run/armor/hook.log",
      append: (options, line) => (appended.push({ options, line }), { written: "/run/armor/hook.log", rotated: false }),
      log: recordingLogger().log,
      now: () => NOW,
      observe: (record) => observed.push(record),
    });
    handle({ op: "unregister", container: "abc", held: null }, REPORT);
    expect(appended).toHaveLength(1);
    expect(appended[0]?.options).toEqual({ path: "/run/armor/hook.log", maxBytes: 8192, keep: 3 });
    expect(JSON.parse(appended[0]?.line ?? "")).toMatchObject({ result: "unregistered", container: "abc" });
    expect(observed).toHaveLength(1);
  });

  test("a log that cannot be written costs a warning, nothing else", () => {
    const logs = recordingLogger();
    const handle = hookRecordHandler({ path: "/x", append: () => ({ failed: "cannot open /x: EACCES" }), log: logs.log });
    handle({ op: "unregister", container: "abc", held: null }, REPORT);
    expect(logs.records).toMatchObject([{ level: "warn", msg: "could not append a hook's log line" }]);
  });
});

describe("serve(): a hook's log line in its request", () => {
  let dir: { dir: string; remove: () => void };
  let socket: string;
  let log: string;
  let registry: Registry;
  let listener: UnixSocketListener<unknown> | undefined;
  let raws: RawClient[];
  let calls: Array<{ call: AnsweredHookCall; report: HookReport }>;

  beforeEach(() => {
    dir = tempDir();
    socket = join(dir.dir, "agent.sock");
    log = join(dir.dir, "hook.log");
    registry = new Registry();
    raws = [];
    calls = [];
    const write = hookRecordHandler({ path: log, append: appendLogLine, log: recordingLogger().log });
    listener = serve({
      socketPath: socket,
      registry,
      info: { version: "1", startedAt: new Date() },
      log: recordingLogger().log,
      hookRecord: (call, report) => {
        calls.push({ call, report });
        write(call, report);
      },
    });
  });

  afterEach(() => {
    for (const raw of raws) raw.close();
    listener?.stop(true);
    dir.remove();
  });

  const pod = { namespace: "shop", name: "web-0", uid: null };
  const send = async (...requests: object[]): Promise<unknown[]> => {
    const raw = await RawClient.connect(socket);
    raws.push(raw);
    for (const request of requests) raw.send(request);
    return raw.take(requests.length);
  };
  const written = async (count: number): Promise<void> => {
    for (const deadline = Date.now() + 2000; calls.length < count && Date.now() < deadline;) await Bun.sleep(5);
  };

  test("the hook's client sends its line in its register; the agent writes it, after the answer, from what it registered", async () => {
    const info = containerInfo({ id: "web", pod, containerName: "nginx" });
    const result = await callAgent({ socket, timeoutMs: 2000 }, { op: "register", source: "hook", container: info, log: REPORT });
    expect(result).toMatchObject({ outcome: "added" });
    await written(1);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.call).toEqual({ op: "register", container: "web", held: { pod, containerName: "nginx" } });
    // The hook's time to its request, plus the agent's to its answer.
    expect(calls[0]?.report).toMatchObject({ pid: REPORT.pid, maxBytes: REPORT.maxBytes, keep: REPORT.keep });
    expect(calls[0]?.report.ms).toBeGreaterThanOrEqual(REPORT.ms);
    const lines = readFileSync(log, "utf8").trim().split("\n");
    expect(lines.map((line) => JSON.parse(line))).toMatchObject([
      { result: "registered", container: "web", pod: "shop/web-0", containerName: "nginx", pid: 777 },
    ]);
  });

  test("an unregister's line names the pod the agent held", async () => {
    registry.register(containerInfo({ id: "web", pod, containerName: "nginx" }), "hook");
    expect(await send({ v: 1, id: 1, op: "unregister", container: "web", log: REPORT })).toMatchObject([{ id: 1, ok: true }]);
    await written(1);
    expect(calls[0]?.call).toEqual({ op: "unregister", container: "web", held: { pod, containerName: "nginx" } });
  });

  test.each<[string, object]>([
    ["a refused register", { v: 1, id: 1, op: "register", source: "hook", container: containerInfo({ id: "late" }), deadline: 1, log: REPORT }],
    ["a bootstrap add (no hook made that call)", { v: 1, id: 1, op: "register", source: "bootstrap", container: containerInfo({ id: "b" }), log: REPORT }],
  ])("writes no line for %s: one line per hook call the agent answered ok, never more", async (_name, request) => {
    await send(request, { v: 1, id: 2, op: "ping" });
    await Bun.sleep(20);
    expect(calls).toEqual([]);
  });

  test.each<[string, Record<string, unknown>]>([
    ["a rotation below the hook's bounds", { maxBytes: 100 }],
    ["more rotated files than the hook keeps", { keep: 21 }],
    ["a pid that is not one", { pid: -1 }],
    ["a duration beyond an hour", { ms: 4_000_000 }],
    ["a field the agent takes from itself", { container: "someone-else" }],
    ["a line of its own", { line: '{"result":"registered"}' }],
  ])("refuses a request whose log has %s, and writes nothing", async (_name, extra) => {
    registry.register(containerInfo({ id: "web" }), "hook");
    const answers = (await send({ v: 1, id: 1, op: "unregister", container: "web", log: { ...REPORT, ...extra } })) as Array<{
      ok: boolean;
      error?: { code: string };
    }>;
    expect(answers[0]).toMatchObject({ ok: false, error: { code: "E_INVALID_REQUEST" } });
    expect(registry.get("web")).toBeDefined();
    expect(calls).toEqual([]);
  });

  test("the op hook-log is gone: a hook of an older build that sends one is told so, and nothing is written", async () => {
    const answers = (await send({ v: 1, id: 1, op: "unregister", container: "web" }, { v: 1, id: 2, op: "hook-log", ...REPORT })) as Array<{
      ok: boolean;
      error?: { code: string };
    }>;
    expect(answers[1]).toMatchObject({ ok: false, error: { code: "E_INVALID_REQUEST" } });
    expect(calls).toEqual([]);
  });
});
