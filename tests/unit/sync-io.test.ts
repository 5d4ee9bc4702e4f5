/**
 * The fast path's reads (lib/hook/sync-io.ts): a file or stdin is read whole however far past
 * the first 4 KiB buffer it goes, and cut one byte past the bound, which says it is too large.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { syncIo } from "../../lib/hook/sync-io.ts";
import { removeDir, tempDir } from "../e2e/support.ts";

const SYNC_IO = join(import.meta.dir, "../../lib/hook/sync-io.ts");
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeDir(dir);
});
function file(text: string): string {
  const dir = tempDir("sync-io");
  dirs.push(dir);
  const path = join(dir, "f");
  writeFileSync(path, text);
  return path;
}
const text = (n: number): string => Array.from({ length: n }, (_, i) => String.fromCharCode(97 + (i % 26))).join("");

describe("syncIo.readFile()", () => {
  test.each([0, 4095, 4096, 4097, 200_000])("reads a file of %d bytes whole", (n) => {
    expect(syncIo.readFile(file(text(n)), 1024 * 1024)).toBe(text(n));
  });

  test("reads at most one byte past its bound", () => {
    expect(syncIo.readFile(file(text(10_000)), 5000)).toBe(text(5001));
  });
});

describe("syncIo.readStdin()", () => {
  // stdin is the process's own: a child reads it, as the hook does.
  const child = (stdin: string, maxBytes: number): { length: number; same: boolean; ended: boolean } => {
    const script = `import { syncIo } from ${JSON.stringify(SYNC_IO)};
const r = syncIo.readStdin(${maxBytes}, performance.now() + 5000);
const expected = await Bun.file(process.env.EXPECTED!).text();
console.log(JSON.stringify({ length: r.text.length, same: expected.startsWith(r.text), ended: r.ended }));`;
    const run = Bun.spawnSync([process.execPath, "-e", script], {
      env: { ...process.env, EXPECTED: file(stdin) },
      stdin: new TextEncoder().encode(stdin),
      stdout: "pipe",
      stderr: "pipe",
    });
    if (run.exitCode !== 0) throw new Error(run.stderr.toString());
    return JSON.parse(run.stdout.toString()) as { length: number; same: boolean; ended: boolean };
  };

  test("reads a 300 KiB state to its end", () => {
    expect(child(text(300_000), 1024 * 1024)).toEqual({ length: 300_000, same: true, ended: true });
  });

  test("reads one byte past its bound, which tells it is too large", () => {
    expect(child(text(20_000), 10_000)).toEqual({ length: 10_001, same: true, ended: true });
  });
});
