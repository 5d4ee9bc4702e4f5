import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { takeAgentLock } from "../../lib/agent/lock.ts";
import { armorErrorOf, tempDir } from "./_fixtures.ts";

let tmp: { dir: string; remove: () => void };
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.remove());

describe("takeAgentLock()", () => {
  test("holds the lock with the holder's pid in it, 0600; a second taker fails naming that pid", () => {
    const path = join(tmp.dir, "agent.lock");
    const first = takeAgentLock(path, 4242);
    expect(readFileSync(path, "utf8")).toBe("4242\n");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const err = armorErrorOf(() => takeAgentLock(path, 5151));
    expect(err.code).toBe("E_SOCKET");
    expect(err.message).toBe(`another agent (pid 4242) holds ${path}; not starting a second one`);
    expect(readFileSync(path, "utf8")).toBe("4242\n");
    first.release();
    first.release();
    const second = takeAgentLock(path, 5151);
    expect(readFileSync(path, "utf8")).toBe("5151\n");
    second.release();
    expect(existsSync(path)).toBe(true);
  });

  test("a longer pid left by an earlier holder is overwritten whole", () => {
    const path = join(tmp.dir, "agent.lock");
    writeFileSync(path, "1234567\n", { mode: 0o600 });
    takeAgentLock(path, 42).release();
    expect(readFileSync(path, "utf8")).toBe("42\n");
  });

  test("never follows a symlink at the lock's path", () => {
    const target = join(tmp.dir, "elsewhere");
    writeFileSync(target, "keep\n");
    const path = join(tmp.dir, "agent.lock");
    symlinkSync(target, path);
    expect(armorErrorOf(() => takeAgentLock(path)).message).toMatch(/^cannot open the agent lock .*: ELOOP$/);
    expect(readFileSync(target, "utf8")).toBe("keep\n");
  });

  test("refuses a FIFO at the lock's path without blocking", () => {
    const path = join(tmp.dir, "agent.lock");
    expect(Bun.spawnSync(["mkfifo", path]).exitCode).toBe(0);
    expect(armorErrorOf(() => takeAgentLock(path)).message).toBe(`the agent lock ${path} is not a regular file; refusing to start`);
  });
});
