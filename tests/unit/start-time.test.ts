import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { parseStartTime } from "../../lib/proc/start-time.ts";

/** A /proc/<pid>/stat line with `comm` and `start` as field 22 (fields 4..21 and 23.. are filler). */
function statLine(comm: string, start: string | number, pid = 3012): string {
  const before = ["S", "1", "3012", "3012", "0", "-1", "4194560", "1234", "0", "0", "0", "12", "7", "0", "0", "20", "0", "1", "0"];
  const after = [
    "12345678",
    "456",
    "18446744073709551615",
    "1",
    "1",
    "0",
    "0",
    "0",
    "0",
    "0",
    "0",
    "0",
    "0",
    "0",
    "0",
    "0",
    "0",
    "17",
    "3",
    "0",
    "0",
    "0",
    "0",
    "0",
  ];
  return `${pid} (${comm}) ${[...before, String(start), ...after].join(" ")}\n`;
}

describe("parseStartTime()", () => {
  test("reads field 22 of a stat line", () => {
    expect(parseStartTime(statLine("nginx", 987654))).toBe(987654);
  });

  test.each([
    ["spaces", "my app"],
    ["parentheses", "a) (b"],
    ["a closing parenthesis and digits", ") 1 2 3 4 5"],
    ["nothing", ""],
  ])("counts fields after the last ')' when the command name holds %s", (_name, comm) => {
    expect(parseStartTime(statLine(comm, 555))).toBe(555);
  });

  test("reads a line without a trailing newline", () => {
    expect(parseStartTime(statLine("sh", 42).trimEnd())).toBe(42);
  });

  test.each([
    ["an empty text", ""],
    ["no command name", "3012 nginx S 1 2 3"],
    ["too few fields", "3012 (nginx) S 1 2 3"],
    ["a non-numeric start time", statLine("nginx", "later")],
    ["a negative start time", statLine("nginx", "-5")],
  ])("returns undefined for %s", (_name, stat) => {
    expect(parseStartTime(stat)).toBeUndefined();
  });

  test.if(existsSync("/proc/self/stat"))("reads this process's own start time", () => {
    const start = parseStartTime(readFileSync("/proc/self/stat", "utf8"));
    expect(Number.isInteger(start)).toBe(true);
    expect(start).toBeGreaterThan(0);
  });
});
