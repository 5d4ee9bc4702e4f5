import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { withDeadline } from "../../lib/deadline.ts";

const MODULE = join(import.meta.dir, "../../lib/deadline.ts");

/** Runs `body` as a script importing withDeadline (killed after 10 s): its exit status, output and how long it lived. */
function runScript(body: string): { code: number; stdout: string; stderr: string; ms: number } {
  const started = Date.now();
  const ran = Bun.spawnSync([process.execPath, "-e", `import { withDeadline } from ${JSON.stringify(MODULE)};\n${body}`], {
    stdout: "pipe",
    stderr: "pipe",
    timeout: 10_000,
  });
  return { code: ran.exitCode, stdout: ran.stdout.toString(), stderr: ran.stderr.toString(), ms: Date.now() - started };
}

describe("withDeadline()", () => {
  test("resolves with the promise's value when it settles first, without calling onTimeout", async () => {
    let called = false;
    const value = await withDeadline(
      Bun.sleep(5).then(() => 42),
      1000,
      () => {
        called = true;
        return new Error("deadline");
      },
    );
    expect([value, called]).toEqual([42, false]);
  });

  test("rejects with the promise's own error when it rejects first", async () => {
    await expect(withDeadline(Promise.reject(new Error("refused")), 1000, () => new Error("deadline"))).rejects.toThrow("refused");
  });

  test("rejects with the onTimeout error after ms, not before", async () => {
    const started = Date.now();
    await expect(withDeadline(new Promise(() => {}), 50, () => new Error("no answer within 50 ms"))).rejects.toThrow("no answer within 50 ms");
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  test("clears its timer: a settled race does not keep the process alive for the rest of ms", () => {
    const ran = runScript(`
      console.log(await withDeadline(Promise.resolve("resolved"), 60_000, () => new Error("deadline")));
      console.log(await withDeadline(Promise.reject(new Error("rejected")), 60_000, () => new Error("deadline")).catch((e) => e.message));
    `);
    expect(ran).toMatchObject({ code: 0, stdout: "resolved\nrejected\n", stderr: "" });
    expect(ran.ms).toBeLessThan(5_000);
  });

  test("ignores a promise that settles after the deadline: no unhandled rejection", () => {
    const ran = runScript(`
      const late = new Promise((_, reject) => setTimeout(() => reject(new Error("late")), 50));
      console.log(await withDeadline(late, 10, () => new Error("deadline")).catch((e) => e.message));
      await Bun.sleep(100);
      console.log("still running");
    `);
    expect(ran).toMatchObject({ code: 0, stdout: "deadline\nstill running\n", stderr: "" });
  });
});
