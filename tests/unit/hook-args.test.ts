import { describe, expect, test } from "bun:test";
import { DEFAULT_SOCKET, DEFAULT_TIMEOUT_MS, parseHookArgs } from "../../lib/hook/args.ts";
import { armorErrorOf } from "./_fixtures.ts";

describe("parseHookArgs()", () => {
  test("defaults the socket and timeout and leaves the stage to the state", () => {
    expect(parseHookArgs([])).toMatchObject({ socket: DEFAULT_SOCKET, timeoutMs: DEFAULT_TIMEOUT_MS, help: false, version: false });
    expect(parseHookArgs([]).stage).toBeUndefined();
    expect(DEFAULT_SOCKET).toBe("/run/armor/armor.sock");
  });

  test("reads a stage and flags with separate values", () => {
    expect(parseHookArgs(["createRuntime", "--socket", "/tmp/a.sock", "--timeout-ms", "250"])).toMatchObject({
      socket: "/tmp/a.sock",
      timeoutMs: 250,
      stage: "createRuntime",
      help: false,
      version: false,
    });
  });

  test("reads flags with inline values, before the stage", () => {
    expect(parseHookArgs(["--socket=/x=y.sock", "--timeout-ms=60000", "poststop"])).toMatchObject({
      socket: "/x=y.sock",
      timeoutMs: 60000,
      stage: "poststop",
    });
  });

  test.each([["--help"], ["-h"]])("recognises %s", (flag) => {
    expect(parseHookArgs([flag]).help).toBe(true);
  });

  test("recognises --version", () => {
    expect(parseHookArgs(["--version"]).version).toBe(true);
  });

  test("passes an unknown stage through for resolveStage to judge", () => {
    expect(parseHookArgs(["poststart"]).stage).toBe("poststart");
  });

  test.each([
    [["--socket"], "--socket needs a value"],
    [["--socket="], "--socket needs a value"],
    [["--timeout-ms"], "--timeout-ms needs a value"],
    [["--timeout-ms", "0"], '--timeout-ms must be a whole number from 1 to 60000, got "0"'],
    [["--timeout-ms", "60001"], '--timeout-ms must be a whole number from 1 to 60000, got "60001"'],
    [["--timeout-ms", "1.5"], '--timeout-ms must be a whole number from 1 to 60000, got "1.5"'],
    [["--timeout-ms", "-5"], '--timeout-ms must be a whole number from 1 to 60000, got "-5"'],
    [["--timeout-ms", "1e3"], '--timeout-ms must be a whole number from 1 to 60000, got "1e3"'],
    [["--timeout-ms=ten"], '--timeout-ms must be a whole number from 1 to 60000, got "ten"'],
    [["--verbose"], "unknown flag --verbose"],
    [["-x"], "unknown flag -x"],
    [["createRuntime", "poststop"], 'unexpected argument "poststop" after stage "createRuntime"'],
  ])("refuses %p with E_USAGE", (argv, message) => {
    const err = armorErrorOf(() => parseHookArgs(argv));
    expect(err.code).toBe("E_USAGE");
    expect(err.message).toBe(message);
  });
});
