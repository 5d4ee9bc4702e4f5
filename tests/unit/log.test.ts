/** One schema for every JSON log line: the agent's (jsonLogger) and the hook's (formatLogLine) start with time, level, msg. */
import { describe, expect, test } from "bun:test";
import { formatLogLine, type HookLogRecord } from "../../lib/hook-log-record.ts";
import { jsonLogger, LOG_HEAD, logJson } from "../../lib/log.ts";

const NOW = new Date("2026-12-01T10:00:00.000Z");

function agentLine(fields?: Record<string, unknown>): string {
  let out = "";
  jsonLogger(
    "debug",
    (line) => void (out += line),
    () => NOW,
  )("warn", "dropping a client", fields);
  return out.trimEnd();
}

const hookRecord: HookLogRecord = {
  time: NOW.toISOString(),
  level: "error",
  result: "refused",
  status: 7,
  ms: 3.5,
  pid: 42,
  stage: "createRuntime",
  container: "abc",
};

describe("the log line schema", () => {
  test.each([
    ["the agent's", agentLine({ pid: 1 })],
    ["the hook's", formatLogLine(hookRecord)],
  ])("%s lines start with time, level, msg", (_who, line) => {
    expect(Object.keys(JSON.parse(line)).slice(0, 3)).toEqual([...LOG_HEAD]);
  });

  test("the hook's msg says the stage and the result", () => {
    expect(JSON.parse(formatLogLine(hookRecord))).toMatchObject({ time: NOW.toISOString(), level: "error", msg: "createRuntime refused" });
  });

  test.each(LOG_HEAD.map((name) => [name]))("a field named %p never overwrites the line's own; it is kept as field.%s", (name) => {
    const parsed = JSON.parse(agentLine({ [name]: "forged", other: 1 })) as Record<string, unknown>;
    expect(parsed).toMatchObject({ time: NOW.toISOString(), level: "warn", msg: "dropping a client", [`field.${name}`]: "forged", other: 1 });
    expect(Object.keys(parsed).slice(0, 3)).toEqual([...LOG_HEAD]);
  });

  test("logJson() with no fields is the head alone", () => {
    expect(logJson({ time: "t", level: "info", msg: "m" })).toBe('{"time":"t","level":"info","msg":"m"}');
  });

  test("the levels below the minimum are dropped", () => {
    let out = "";
    const log = jsonLogger(
      "warn",
      (line) => void (out += line),
      () => NOW,
    );
    log("info", "quiet");
    log("debug", "quieter");
    expect(out).toBe("");
  });
});
