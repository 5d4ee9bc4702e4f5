import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readRegular, readRegularText } from "../../lib/safe-read.ts";

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A directory holding one of everything a hostile writer could leave at a file's name. */
function hostileDir(): string {
  dir = mkdtempSync(join(tmpdir(), "armor-safe-read-"));
  writeFileSync(join(dir, "regular"), '{"ok":true}');
  writeFileSync(join(dir, "big"), "x".repeat(5000));
  expect(Bun.spawnSync(["mkfifo", join(dir, "fifo")]).exitCode).toBe(0);
  symlinkSync("/dev/zero", join(dir, "zero"));
  symlinkSync(join(dir, "regular"), join(dir, "link"));
  mkdirSync(join(dir, "directory"));
  return dir;
}

describe("readRegular()", () => {
  test.each([
    ["a regular file", "regular", undefined],
    ["a FIFO (never blocks)", "fifo", "ENOTREG"],
    ["a link to /dev/zero (never followed)", "zero", "ELOOP"],
    ["a link to a regular file (never followed)", "link", "ELOOP"],
    ["a directory", "directory", "ENOTREG"],
    ["a file over the bound", "big", "EFBIG"],
    ["a missing file", "missing", "ENOENT"],
  ])("%s", (_, name, code) => {
    const path = join(hostileDir(), name);
    if (code === undefined) expect(readRegularText(path, 4096)).toBe('{"ok":true}');
    else expect(() => readRegular(path, 4096)).toThrow(expect.objectContaining({ code }));
  });

  test("names the path and what it is", () => {
    const fifo = join(hostileDir(), "fifo");
    expect(() => readRegular(fifo, 10)).toThrow(`${fifo} is a FIFO, not a regular file`);
  });

  test("reads /proc files, whose size says 0, whole", () => {
    dir = mkdtempSync(join(tmpdir(), "armor-safe-read-"));
    expect(readRegularText(`/proc/${process.pid}/stat`, 4096)).toStartWith(`${process.pid} (`);
  });

  test("a file of exactly the bound is read; one byte more is not", () => {
    dir = mkdtempSync(join(tmpdir(), "armor-safe-read-"));
    writeFileSync(join(dir, "f"), "y".repeat(10_000));
    expect(readRegular(join(dir, "f"), 10_000)).toHaveLength(10_000);
    expect(() => readRegular(join(dir, "f"), 9_999)).toThrow(expect.objectContaining({ code: "EFBIG" }));
  });
});
