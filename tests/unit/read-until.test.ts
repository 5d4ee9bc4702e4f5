/** readUntil() (tests/e2e/support.ts), which the quick start uses: it leaves nothing behind that keeps a process alive. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";

const SUPPORT = join(import.meta.dir, "..", "e2e", "support.ts");

describe("readUntil()", () => {
  test("a process that read its marker with a 10-minute limit exits once its work is done", async () => {
    // The child reads "ready" from an echo with a 600 s limit, then has nothing left to do: a timer
    // still pending would keep it alive for those 600 s, far past this test's own time limit.
    const script = `import { readUntil } from ${JSON.stringify(SUPPORT)};
      const echo = Bun.spawn(["sh", "-c", "echo ready; sleep 0.2; echo more"], { stdout: "pipe" });
      const seen = await readUntil(echo.stdout, "ready", 600_000);
      await echo.exited;
      console.log(JSON.stringify(seen));`;
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    const [code, out] = await Promise.all([child.exited, new Response(child.stdout).text()]);
    expect(code).toBe(0);
    expect(JSON.parse(out)).toStartWith("ready\n");
  }, 20_000);

  test("returns what it saw when the stream ends without the marker", async () => {
    const { readUntil } = await import(SUPPORT);
    const echo = Bun.spawn(["sh", "-c", "echo partial"], { stdout: "pipe" });
    expect(await readUntil(echo.stdout, "never", 600_000)).toBe("partial\n");
    await echo.exited;
  });
});
