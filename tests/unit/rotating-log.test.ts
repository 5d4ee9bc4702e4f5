import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { appendLogLine, STALE_LOCK_MS, type RotatingLogOptions } from "../../lib/rotating-log.ts";
import { tempDir } from "./_fixtures.ts";

let dir: string;
let remove: () => void;
beforeEach(() => ({ dir, remove } = tempDir("armor-log-")));
afterEach(() => remove());

const lines = (path: string): string[] =>
  existsSync(path)
    ? readFileSync(path, "utf8")
        .split("\n")
        .filter((l) => l !== "")
    : [];
const line = (n: number): string => `{"n":${n},"pad":"${"x".repeat(80)}"}`;

describe("appendLogLine()", () => {
  test("creates the directory (0700) and the file (0640), and appends whole lines", () => {
    const options: RotatingLogOptions = { path: `${dir}/new/sub/hook.log`, maxBytes: 1 << 20, keep: 2 };
    expect(appendLogLine(options, line(1))).toEqual({ written: options.path, rotated: false });
    expect(appendLogLine(options, `${line(2)}\n`)).toEqual({ written: options.path, rotated: false });
    expect(lines(options.path)).toEqual([line(1), line(2)]);
    expect(statSync(`${dir}/new/sub`).mode & 0o777).toBe(0o700);
    expect(statSync(options.path).mode & 0o777).toBe(0o640);
  });

  test("rotates once the file reaches maxBytes, keeping `keep` files, newest first, dropping the oldest", () => {
    const options: RotatingLogOptions = { path: `${dir}/hook.log`, maxBytes: 1000, keep: 2 };
    const perFile = Math.ceil(1000 / (line(0).length + 1));
    const total = perFile * 4;
    let rotations = 0;
    for (let n = 0; n < total; n++) {
      const result = appendLogLine(options, line(n));
      if ("rotated" in result && result.rotated) rotations += 1;
    }
    expect(rotations).toBe(4);
    const numbers = (path: string) => lines(path).map((l) => (JSON.parse(l) as { n: number }).n);
    // Four full files were written; only the last two survive, the live file is empty (not created yet).
    expect(numbers(`${options.path}.1`)).toEqual([...Array(perFile).keys()].map((i) => 3 * perFile + i));
    expect(numbers(`${options.path}.2`)).toEqual([...Array(perFile).keys()].map((i) => 2 * perFile + i));
    expect(existsSync(`${options.path}.3`)).toBe(false);
    expect(existsSync(options.path)).toBe(false);
    expect(existsSync(`${options.path}.lock`)).toBe(false);
  });

  test("does not rotate while another writer holds a fresh lock, and rotates once it is gone", () => {
    const options: RotatingLogOptions = { path: `${dir}/hook.log`, maxBytes: 200, keep: 1 };
    writeFileSync(`${options.path}.lock`, "");
    for (let n = 0; n < 5; n++) expect(appendLogLine(options, line(n))).toEqual({ written: options.path, rotated: false });
    expect(lines(options.path)).toHaveLength(5);
    // Its owner is done.
    unlinkSync(`${options.path}.lock`);
    expect(appendLogLine(options, line(5))).toEqual({ written: options.path, rotated: true });
    expect(lines(`${options.path}.1`)).toHaveLength(6);
  });

  test("breaks a lock left by a writer that died mid-rotation, once it is stale", () => {
    // Every line fills the file: every append tries to rotate.
    const options: RotatingLogOptions = { path: `${dir}/hook.log`, maxBytes: 50, keep: 1 };
    const lock = `${options.path}.lock`;
    writeFileSync(lock, "");
    const now = Date.now();
    expect(appendLogLine(options, line(1), () => now)).toEqual({ written: options.path, rotated: false });
    expect(existsSync(lock)).toBe(true);
    const old = (now - STALE_LOCK_MS - 1000) / 1000;
    utimesSync(lock, old, old);
    // This writer breaks the lock; the next one rotates.
    expect(appendLogLine(options, line(2), () => now)).toEqual({ written: options.path, rotated: false });
    expect(existsSync(lock)).toBe(false);
    expect(appendLogLine(options, line(3), () => now)).toEqual({ written: options.path, rotated: true });
    expect(lines(`${options.path}.1`)).toHaveLength(3);
  });

  test("never writes through a symlink planted at the log's path", () => {
    const target = `${dir}/elsewhere`;
    writeFileSync(target, "precious\n");
    symlinkSync(target, `${dir}/hook.log`);
    const result = appendLogLine({ path: `${dir}/hook.log`, maxBytes: 1 << 20, keep: 1 }, line(1));
    expect(result).toEqual({ failed: `cannot open ${dir}/hook.log: ELOOP` });
    expect(readFileSync(target, "utf8")).toBe("precious\n");
  });

  test("does not block on a FIFO at the log's path, nor write to it", () => {
    expect(Bun.spawnSync(["mkfifo", `${dir}/hook.log`]).exitCode).toBe(0);
    const result = appendLogLine({ path: `${dir}/hook.log`, maxBytes: 1 << 20, keep: 1 }, line(1));
    expect(result).toEqual({ failed: `cannot open ${dir}/hook.log: ENXIO` });
    expect(lstatSync(`${dir}/hook.log`).isFIFO()).toBe(true);
  });

  test("reports a directory in the way instead of throwing", () => {
    const options: RotatingLogOptions = { path: `${dir}/hook.log`, maxBytes: 1 << 20, keep: 1 };
    mkdirSync(options.path);
    expect(appendLogLine(options, line(1))).toEqual({ failed: `cannot open ${options.path}: EISDIR` });
  });
});
