import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { hookLogCommand, parseHookLogQuery, type HookLogDeps, type HookLogQuery } from "../../lib/agent/hook-log.ts";
import { splitLines } from "../../lib/agent/lines.ts";
import { formatHookLogRecord } from "../../lib/agent/hook-log-format.ts";
import { agentExitStatus } from "../../lib/agent/exit-status.ts";
import { formatLogLine, hookLogRecordSchema, type HookLogRecord } from "../../lib/hook-log-record.ts";
import { armorErrorOf, rejectionOf } from "./_fixtures.ts";

const LOG = "/run/armor/hook.log";
const HEX_ID = "4f1c2e9a7b3d5e6f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f";

function record(overrides: Partial<HookLogRecord> = {}): HookLogRecord {
  return {
    time: "2026-11-27T02:44:30.754Z",
    level: "info",
    result: "registered",
    status: 0,
    ms: 12.34,
    pid: 100,
    stage: "createRuntime",
    container: "c1",
    ...overrides,
  };
}

const lines = (...records: HookLogRecord[]): string => records.map((r) => `${formatLogLine(r)}\n`).join("");

/** Log files held in memory, served in chunks of `chunkBytes`; `alias` gives a second name to one file. */
function run(files: Record<string, string>, options: { query?: HookLogQuery; json?: boolean; chunkBytes?: number; alias?: Record<string, string> } = {}) {
  const printed: string[] = [];
  const warned: string[] = [];
  const opened: string[] = [];
  const deps: HookLogDeps = {
    open: (path) => {
      opened.push(path);
      const real = options.alias?.[path] ?? path;
      const text = files[real];
      if (text === undefined) return null;
      const bytes = new TextEncoder().encode(text);
      const size = options.chunkBytes ?? 64 * 1024;
      const chunks = Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size));
      return { identity: real, chunks };
    },
    print: (line) => printed.push(line),
    warn: (line) => warned.push(line),
  };
  const done = hookLogCommand(LOG, options.query ?? {}, options.json ?? false, deps);
  return { done, printed, warned, opened };
}

const containersOf = (printed: string[]): string[] => printed.map((line) => (JSON.parse(line) as HookLogRecord).container ?? "-");

test("the record's schema takes every line the hook writes", () => {
  const full = record({ pod: "shop/web-0", containerName: "nginx", code: "E_X", phase: "p", message: "m", spool: "s" });
  // The line adds its msg (lib/log.ts's one schema), made of stage and result.
  expect(v.parse(hookLogRecordSchema(), JSON.parse(formatLogLine(full)))).toEqual({ ...full, msg: "createRuntime registered" });
});

describe("hookLogCommand()", () => {
  test("prints the records of PATH.20 … PATH.1, then PATH: the order they were written", async () => {
    const { done, printed, opened } = run(
      {
        [LOG]: lines(record({ container: "newest" })),
        [`${LOG}.1`]: lines(record({ container: "second-newest" })),
        [`${LOG}.2`]: lines(record({ container: "third-a" }), record({ container: "third-b" })),
        [`${LOG}.20`]: lines(record({ container: "oldest" })),
      },
      { json: true },
    );
    expect(await done).toBe(5);
    expect(containersOf(printed)).toEqual(["oldest", "third-a", "third-b", "second-newest", "newest"]);
    expect(opened).toHaveLength(21);
  });

  test("reads lines split across chunks and a last line without its newline", async () => {
    const text = lines(record({ container: "a" }), record({ container: "b" })) + formatLogLine(record({ container: "c" }));
    const { done, printed, warned } = run({ [LOG]: text }, { json: true, chunkBytes: 7 });
    await done;
    expect(containersOf(printed)).toEqual(["a", "b", "c"]);
    expect(warned).toEqual([]);
  });

  test("reads a file once when a rotation meanwhile shows it under two names", async () => {
    const { done, printed } = run(
      { [LOG]: lines(record({ container: "moved" })), [`${LOG}.2`]: lines(record({ container: "older" })) },
      { json: true, alias: { [`${LOG}.1`]: LOG } },
    );
    await done;
    expect(containersOf(printed)).toEqual(["older", "moved"]);
  });

  const mixed = lines(
    record({ container: HEX_ID }),
    record({ container: "4f1c-other", pod: "shop/web-0", containerName: "nginx" }),
    record({ container: "x9", pod: "shop/web-1", containerName: "sidecar" }),
    record({ result: "failed", level: "error", status: 1, code: "E_STATE", phase: "reading the OCI state" }),
  );

  test.each([
    ["an id prefix", "4f1c", [HEX_ID, "4f1c-other"]],
    ["a whole id", HEX_ID, [HEX_ID]],
    ["a pod exactly", "shop/web-1", ["x9"]],
    ["a container name exactly", "nginx", ["4f1c-other"]],
  ])("CONTAINER matches %s", async (_, container, expected) => {
    const { done, printed } = run({ [LOG]: mixed }, { json: true, query: { container } });
    await done;
    expect(containersOf(printed)).toEqual(expected);
  });

  test.each([["shop/web"], ["ngin"], ["1c2e"]])("CONTAINER %p (part of a pod, a name, or not a prefix) matches nothing: E_NOT_FOUND", async (container) => {
    const err = await rejectionOf(run({ [LOG]: mixed }, { query: { container } }).done);
    expect(err.code).toBe("E_NOT_FOUND");
  });

  test("--result keeps only the records with those results", async () => {
    const text = lines(
      record({ container: "a" }),
      record({ container: "b", result: "unconfirmed", level: "warn" }),
      record({ container: "c", result: "failed", status: 1 }),
    );
    const { done, printed } = run({ [LOG]: text }, { json: true, query: { results: new Set(["failed", "unconfirmed"]) } });
    await done;
    expect(containersOf(printed)).toEqual(["b", "c"]);
  });

  test("--tail N prints the last N matching records, across files, in order", async () => {
    const { done, printed } = run(
      {
        [LOG]: lines(record({ container: "a3" }), record({ container: "b2" }), record({ container: "a4" })),
        [`${LOG}.1`]: lines(record({ container: "a1" }), record({ container: "a2" }), record({ container: "b1" })),
      },
      { json: true, query: { container: "a", tail: 3 } },
    );
    expect(await done).toBe(4);
    expect(containersOf(printed)).toEqual(["a2", "a3", "a4"]);
  });

  test("--tail larger than the matches prints them all", async () => {
    const { done, printed } = run({ [LOG]: lines(record({ container: "a" }), record({ container: "b" })) }, { json: true, query: { tail: 10 } });
    await done;
    expect(containersOf(printed)).toEqual(["a", "b"]);
  });

  test("skips torn and foreign lines and says on warn how many, in which files", async () => {
    const valid = formatLogLine(record({ container: "ok" }));
    const { done, printed, warned } = run(
      {
        [LOG]: `${valid.slice(0, 30)}\n${valid}\n{"time":"t","level":"info","msg":"bootstrap.log shape"}\n\n`,
        [`${LOG}.1`]: `${"x".repeat(200_000)}\n${valid}\nnot json\n`,
      },
      { json: true },
    );
    await done;
    expect(containersOf(printed)).toEqual(["ok", "ok"]);
    expect(warned).toEqual([`skipped 4 lines that are not hook log records: 2 in ${LOG}.1, 2 in ${LOG}`]);
  });

  test("--json prints the lines as read, fields a newer hook adds included", async () => {
    const line = JSON.stringify({ ...record(), future: { field: 1 } });
    const { done, printed } = run({ [LOG]: `${line}\n` }, { json: true });
    await done;
    expect(printed).toEqual([line]);
  });

  test("without --json prints one formatted line per record", async () => {
    const { done, printed } = run({ [LOG]: lines(record({ container: "a" })) });
    await done;
    expect(printed).toEqual([formatHookLogRecord(record({ container: "a" }))]);
  });

  test("fails with E_USAGE (exit 2) naming the path when no log file exists", async () => {
    const err = await rejectionOf(run({}).done);
    expect(err.code).toBe("E_USAGE");
    expect(agentExitStatus(err.code)).toBe(2);
    expect(err.message).toBe(`no hook log at ${LOG} (nor ${LOG}.1 … .20): pass the --socket or --log-file the hook uses`);
  });

  test("fails with E_NOT_FOUND (exit 3) naming the container and the files when no record matches", async () => {
    const files = { [LOG]: lines(record()), [`${LOG}.1`]: lines(record()), [`${LOG}.3`]: "torn\n" };
    const { done, printed, warned } = run(files, { query: { container: "nope", results: new Set(["failed"]) } });
    const err = await rejectionOf(done);
    expect(err.code).toBe("E_NOT_FOUND");
    expect(agentExitStatus(err.code)).toBe(3);
    expect(err.message).toBe(`no hook log record with result failed for container "nope" in ${LOG}.3 … ${LOG} (3 files)`);
    expect(printed).toEqual([]);
    expect(warned).toEqual([`skipped 1 line that is not a hook log record: 1 in ${LOG}.3`]);
  });

  test("without CONTAINER, no matching record is not an error", async () => {
    const { done, printed } = run({ [LOG]: lines(record()) }, { query: { results: new Set(["failed"]) } });
    expect(await done).toBe(0);
    expect(printed).toEqual([]);
  });
});

describe("parseHookLogQuery()", () => {
  test("reads CONTAINER, a comma-separated --result and --tail", () => {
    expect(parseHookLogQuery({ container: "abc", result: "failed, refused", tail: "5" })).toEqual({
      container: "abc",
      results: new Set(["failed", "refused"]),
      tail: 5,
    });
    expect(parseHookLogQuery({})).toEqual({});
  });

  test.each([
    ["an unknown --result", { result: "failed,oops" }, '--result "oops": must be one of registered, unregistered, bootstrap, unconfirmed, refused, failed'],
    ["an empty --result", { result: "" }, '--result "": must be one of registered, unregistered, bootstrap, unconfirmed, refused, failed'],
    ["--tail 0", { tail: "0" }, "--tail: must be a whole number from 1 to 100000"],
    ["a negative --tail", { tail: "-3" }, "--tail: must be a whole number from 1 to 100000"],
    ["a --tail over the bound", { tail: "100001" }, "--tail: must be a whole number from 1 to 100000"],
    ["a --tail that is not a number", { tail: "2x" }, "--tail: must be a whole number from 1 to 100000"],
    ["an empty CONTAINER", { container: "" }, "CONTAINER: must not be empty"],
  ])("refuses %s with E_USAGE", (_, raw, message) => {
    const err = armorErrorOf(() => parseHookLogQuery(raw));
    expect(err.code).toBe("E_USAGE");
    expect(err.message).toBe(message);
  });
});

describe("formatHookLogRecord()", () => {
  test("aligns the fixed columns, then what went wrong", () => {
    const unconfirmed = record({
      level: "warn",
      result: "unconfirmed",
      stage: "poststop",
      container: "x1",
      ms: 46.34,
      code: "E_AGENT_UNREACHABLE",
      phase: "asking the agent",
      spool: "/run/armor/spool/1.json",
      message: "armor-hook: cannot reach agent",
    });
    expect(formatHookLogRecord(unconfirmed)).toBe(
      "2026-11-27T02:44:30.754Z warn  unconfirmed  poststop         46.3ms x1           E_AGENT_UNREACHABLE (asking the agent) spool=/run/armor/spool/1.json : armor-hook: cannot reach agent",
    );
    expect(formatHookLogRecord(record({ container: HEX_ID, pod: "shop/web-0", containerName: "nginx" }))).toBe(
      "2026-11-27T02:44:30.754Z info  registered   createRuntime    12.3ms 4f1c2e9a7b3d pod=shop/web-0 container=nginx",
    );
  });

  test("shows a failure before the id was known with dashes and its exit status", () => {
    const { stage: _, container: __, ...early } = record({ level: "error", result: "failed", status: 1, code: "E_STATE" });
    expect(formatHookLogRecord(early)).toBe("2026-11-27T02:44:30.754Z error failed       -                12.3ms -            status=1 E_STATE");
  });

  test("escapes control characters and bidi controls a pod's annotations could carry", () => {
    expect(formatHookLogRecord(record({ containerName: "evil\u001b[2J\nname" }))).toEndWith("container=evil\\u001b[2J\\nname");
    expect(formatHookLogRecord(record({ pod: "shop/\u200fweb\u2028x", message: "m\u061c" }))).toContain("pod=shop/\\u200fweb\\u2028x");
  });
});

describe("splitLines()", () => {
  test("gives null for a line longer than the bound, then goes on", async () => {
    const chunks = [new TextEncoder().encode("short\n" + "y".repeat(40)), new TextEncoder().encode("y".repeat(40) + "\nnext\nlast")];
    const out: Array<string | null> = [];
    for await (const line of splitLines(chunks, 50)) out.push(line);
    expect(out).toEqual(["short", null, "next", "last"]);
  });
});
