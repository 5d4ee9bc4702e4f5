import { describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { MAX_LINES_PER_PASS, PendingLogFolder, TORN_AFTER_MS, type FoldHost } from "../../lib/agent/hook-log-fold.ts";
import { pendingFileName } from "../../lib/hook-log-pending.ts";
import type { RotatingLogOptions } from "../../lib/rotating-log.ts";
import { recordingLogger, tempDir } from "./_fixtures.ts";

const DIR = "/run/armor/hook-log.pending";

/** An in-memory pending directory, and the log it appends to. */
function fakeHost(files: Record<string, { text: string; ageMs?: number }>, appendFails?: string) {
  const appended: Array<{ options: RotatingLogOptions; line: string }> = [];
  const removed: string[] = [];
  const host: FoldHost = {
    readDir: () => Object.keys(files).map((path) => path.slice(DIR.length + 1)),
    readText: async (path) => {
      const file = files[path];
      if (!file) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
      return file.text;
    },
    remove: (path) => {
      removed.push(path);
      delete files[path];
    },
    ageMs: (path) => files[path]?.ageMs ?? 0,
    append: (options, line) => {
      if (appendFails) return { failed: appendFails };
      appended.push({ options, line });
      return { written: options.path, rotated: false };
    },
  };
  return { host, appended, removed, files };
}

const pending = (line: string, extra: Record<string, unknown> = {}) =>
  `${JSON.stringify({ v: 1, log: "hook.log", maxBytes: 8192, keep: 3, line, ...extra })}\n`;
const name = (at: number, pid = 100) => `${DIR}/${pendingFileName(at, pid, 0xabc)}`;

function folder(files: Record<string, { text: string; ageMs?: number }>, appendFails?: string) {
  const fake = fakeHost(files, appendFails);
  const { log, records } = recordingLogger();
  return { ...fake, records, folder: new PendingLogFolder({ dir: DIR, logDir: "/run/armor", log, host: fake.host }) };
}

describe("PendingLogFolder.fold()", () => {
  test("appends pending lines to their log in time order, with the hook's rotation, and removes them", async () => {
    const f = folder({ [name(3)]: { text: pending('{"n":3}') }, [name(1)]: { text: pending('{"n":1}') }, [name(2, 7)]: { text: pending('{"n":2}') } });
    expect(await f.folder.fold()).toEqual({ appended: 3, failed: 0, bad: 0, waiting: 0 });
    expect(f.appended.map((a) => a.line)).toEqual(['{"n":1}', '{"n":2}', '{"n":3}']);
    expect(f.appended[0]?.options).toEqual({ path: "/run/armor/hook.log", maxBytes: 8192, keep: 3 });
    expect(Object.keys(f.files)).toEqual([]);
  });

  test("leaves a file still being written for the next pass", async () => {
    const f = folder({ [name(1)]: { text: pending('{"n":1}').slice(0, 20), ageMs: 5 } });
    expect(await f.folder.fold()).toEqual({ appended: 0, failed: 0, bad: 0, waiting: 1 });
    expect(f.removed).toEqual([]);
  });

  test("removes, with a warning, a file its hook left incomplete long ago", async () => {
    const f = folder({ [name(1)]: { text: pending('{"n":1}').slice(0, 20), ageMs: TORN_AFTER_MS + 1 } });
    expect(await f.folder.fold()).toMatchObject({ bad: 1, waiting: 0 });
    expect(f.records.some((r) => r.level === "warn" && r.msg.includes("left incomplete"))).toBe(true);
  });

  test.each([
    ["not JSON", "garbage\n"],
    ["a log outside the socket's directory", pending('{"n":1}', { log: "../etc/cron.d/x" })],
    ["a log that is a path", pending('{"n":1}', { log: "sub/hook.log" })],
    ["a log named ..", pending('{"n":1}', { log: ".." })],
    ["a line holding a newline", pending('{"n":1}\n{"n":2}')],
    ["a rotation out of bounds", pending('{"n":1}', { maxBytes: 10 })],
    ["an unknown field", pending('{"n":1}', { path: "/etc/passwd" })],
  ])("removes, with a warning, and appends nothing of %s", async (_name, text) => {
    const f = folder({ [name(1)]: { text } });
    expect(await f.folder.fold()).toEqual({ appended: 0, failed: 0, bad: 1, waiting: 0 });
    expect(f.appended).toEqual([]);
    expect(f.removed).toEqual([name(1)]);
    expect(f.records.filter((r) => r.level === "warn")).toHaveLength(1);
  });

  test("a log that cannot be written loses the line with a warning, not the agent's disk", async () => {
    const f = folder({ [name(1)]: { text: pending('{"n":1}') } }, "cannot open /run/armor/hook.log: EISDIR");
    expect(await f.folder.fold()).toMatchObject({ appended: 0, failed: 1 });
    expect(f.removed).toEqual([name(1)]);
    expect(f.records.find((r) => r.level === "warn")?.msg).toContain("EISDIR");
  });

  test("ignores files that are not pending lines", async () => {
    const f = folder({ [`${DIR}/notes.txt`]: { text: "hi\n" }, [`${DIR}/.tmp-x`]: { text: "" } });
    expect(await f.folder.fold()).toEqual({ appended: 0, failed: 0, bad: 0, waiting: 0 });
    expect(f.removed).toEqual([]);
  });

  test(`takes at most ${MAX_LINES_PER_PASS} lines a pass, oldest first`, async () => {
    const files: Record<string, { text: string }> = {};
    for (let i = 0; i < MAX_LINES_PER_PASS + 5; i++) files[name(1000 + i)] = { text: pending(`{"n":${i}}`) };
    const f = folder(files);
    expect((await f.folder.fold()).appended).toBe(MAX_LINES_PER_PASS);
    expect(f.appended.at(-1)?.line).toBe(`{"n":${MAX_LINES_PER_PASS - 1}}`);
    expect((await f.folder.fold()).appended).toBe(5);
  });
});

describe("PendingLogFolder.prepare()", () => {
  test("creates the pending directory owner-only: from then on hooks leave their lines in it", () => {
    const { dir, remove } = tempDir();
    try {
      const { log } = recordingLogger();
      new PendingLogFolder({ dir: `${dir}/hook-log.pending`, logDir: dir, log }).prepare();
      expect(statSync(`${dir}/hook-log.pending`).mode & 0o777).toBe(0o700);
    } finally {
      remove();
    }
  });
});
