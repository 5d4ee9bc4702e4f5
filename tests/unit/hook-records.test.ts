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

describe("serve(): hook-log frames", () => {
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

  const frame = (id: number, extra: Partial<HookReport> = {}) => ({ v: 1, id, op: "hook-log", ...REPORT, ...extra });
  const conversation = async (...requests: object[]): Promise<unknown[]> => {
    const raw = await RawClient.connect(socket);
    raws.push(raw);
    for (const request of requests) raw.send(request);
    return raw.take(requests.length);
  };
  const pod = { namespace: "shop", name: "web-0", uid: null };

  test("the hook's client sends its line after the answer; the agent writes it from what it registered", async () => {
    const info = containerInfo({ id: "web", pod, containerName: "nginx" });
    const result = await callAgent({ socket, timeoutMs: 2000 }, { op: "register", source: "hook", container: info }, () => ({ op: "hook-log", ...REPORT }));
    expect(result).toMatchObject({ outcome: "added" });
    const deadline = Date.now() + 2000;
    while (calls.length === 0 && Date.now() < deadline) await Bun.sleep(5);
    expect(calls).toEqual([{ call: { op: "register", container: "web", held: { pod, containerName: "nginx" } }, report: REPORT }]);
    const lines = readFileSync(log, "utf8").trim().split("\n");
    expect(lines.map((line) => JSON.parse(line))).toMatchObject([
      { result: "registered", container: "web", pod: "shop/web-0", containerName: "nginx", pid: 777 },
    ]);
  });

  test("an unregister's line names the pod the agent held", async () => {
    registry.register(containerInfo({ id: "web", pod, containerName: "nginx" }), "hook");
    const raw = await RawClient.connect(socket);
    raws.push(raw);
    raw.send({ v: 1, id: 1, op: "unregister", container: "web" });
    raw.send(frame(2));
    // A line the agent takes is not answered: the only answer is the unregister's.
    expect(await raw.take(1)).toMatchObject([{ id: 1, ok: true }]);
    const deadline = Date.now() + 2000;
    while (calls.length === 0 && Date.now() < deadline) await Bun.sleep(5);
    expect(calls[0]?.call).toEqual({ op: "unregister", container: "web", held: { pod, containerName: "nginx" } });
    raw.send({ v: 1, id: 3, op: "ping" });
    expect(await raw.take(1)).toMatchObject([{ id: 3, ok: true }]);
  });

  test.each<[string, object[], number]>([
    ["as a connection's first frame", [frame(1)], 0],
    ["a second time for one call", [{ v: 1, id: 1, op: "unregister", container: "web" }, frame(2), frame(3)], 1],
    ["after another request", [{ v: 1, id: 1, op: "unregister", container: "web" }, { v: 1, id: 2, op: "ping" }, frame(3)], 0],
    [
      "after a bootstrap add (no hook made that call)",
      [{ v: 1, id: 1, op: "register", source: "bootstrap", container: containerInfo({ id: "b" }) }, frame(2)],
      0,
    ],
    ["after a refused register", [{ v: 1, id: 1, op: "register", source: "hook", container: containerInfo({ id: "late" }), deadline: 1 }, frame(2)], 0],
  ])("is refused %s: one line per call the agent answered, never more", async (_name, requests, written) => {
    // Every frame is answered but a line the agent took (the first `hook-log` after an answered call).
    const taken = requests.filter((r) => (r as { op?: string }).op === "hook-log").length > 1 ? 1 : 0;
    const raw = await RawClient.connect(socket);
    raws.push(raw);
    for (const request of requests) raw.send(request);
    const answers = (await raw.take(requests.length - taken)) as Array<{ ok: boolean; error?: { code: string } }>;
    expect(answers.at(-1)).toMatchObject({ ok: false, error: { code: "E_INVALID_REQUEST" } });
    expect(calls).toHaveLength(written);
  });

  test.each<[string, Partial<HookReport> & Record<string, unknown>]>([
    ["a rotation below the hook's bounds", { maxBytes: 100 }],
    ["more rotated files than the hook keeps", { keep: 21 }],
    ["a pid that is not one", { pid: -1 }],
    ["a duration beyond an hour", { ms: 4_000_000 }],
    ["a field the agent takes from itself", { container: "someone-else" }],
    ["a line of its own", { line: '{"result":"registered"}' }],
  ])("refuses %s", async (_name, extra) => {
    const answers = (await conversation({ v: 1, id: 1, op: "unregister", container: "web" }, { ...frame(2), ...extra })) as Array<{
      ok: boolean;
      error?: { code: string };
    }>;
    expect(answers[1]).toMatchObject({ ok: false, error: { code: "E_INVALID_REQUEST" } });
    expect(calls).toEqual([]);
  });
});
