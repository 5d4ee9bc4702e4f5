/**
 * Permissions and start-up of the compiled binaries: the socket and its directory
 * private whatever the umask, unsafe directories refused, and nothing in the
 * working directory (.env, bunfig.toml) or the environment (BUN_OPTIONS,
 * BUN_BE_BUN, BUN_INSPECT) changes what the binaries do.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AGENT, AgentProcess, HOOK, run, waitFor } from "./support.ts";
import { perTest } from "./per-test.ts";

const { defer, workDir } = perTest("e2e-security");

describe("socket and spool permissions", () => {
  test("umask 000: the directory is 0700, the socket 0600 and the spool 0700, all root's", async () => {
    const dir = workDir();
    const socket = join(dir, "run", "armor.sock");
    const proc = Bun.spawn(["sh", "-c", 'umask 000; exec "$0" serve --socket "$1"', AGENT, socket], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    defer(async () => {
      proc.kill("SIGTERM");
      await proc.exited;
    });
    await waitFor("the socket", () => existsSync(socket));
    for (const [path, mode] of [
      [join(dir, "run"), 0o700],
      [socket, 0o600],
      [join(dir, "run", "spool"), 0o700],
    ] as const) {
      const stat = statSync(path);
      expect({ path, mode: stat.mode & 0o777, uid: stat.uid }).toEqual({ path, mode, uid: 0 });
    }
  });

  test("a 0755 socket directory (as a hostPath volume makes it) becomes 0700", async () => {
    const dir = workDir();
    mkdirSync(join(dir, "run"), { mode: 0o755 });
    chmodSync(join(dir, "run"), 0o755);
    const agent = await AgentProcess.start(join(dir, "run", "armor.sock"));
    defer(() => agent.stop());
    expect(statSync(join(dir, "run")).mode & 0o777).toBe(0o700);
  });

  test.each<[string, (path: string) => void]>([
    ["writable by others", (path) => chmodSync(path, 0o777)],
    ["writable by its group", (path) => chmodSync(path, 0o770)],
    ["owned by another user", (path) => chownSync(path, 4321, 4321)],
  ])("refuses a socket directory %s: exit 5, no socket", async (_name, spoil) => {
    const dir = workDir();
    mkdirSync(join(dir, "run"), { mode: 0o700 });
    spoil(join(dir, "run"));
    const ran = await run([AGENT, "serve", "--socket", join(dir, "run", "armor.sock")]);
    expect(ran.code).toBe(5);
    expect(ran.stderr).toMatch(/^armor-agent: E_SOCKET: socket directory .* (writable by group or others|is owned by uid 4321)/);
    expect(existsSync(join(dir, "run", "armor.sock"))).toBe(false);
  });
});

describe("nothing in the working directory or the environment changes the binaries", () => {
  /** A directory a runtime could run a hook in, full of files Bun would otherwise obey. */
  function hostileDir(): { dir: string; marker: string } {
    const dir = workDir();
    const marker = join(dir, "PRELOADED");
    const evil = `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "x"); console.log("PRELOADED");`;
    writeFileSync(join(dir, "evil.js"), evil);
    writeFileSync(join(dir, "bunfig.toml"), 'preload = ["./evil.js"]\n[run]\nbun = true\n');
    writeFileSync(join(dir, ".env"), "BUN_OPTIONS=--preload ./evil.js\nBUN_BE_BUN=1\n");
    // `bun createRuntime` would run this script: what BUN_BE_BUN would turn the hook into.
    writeFileSync(join(dir, "package.json"), JSON.stringify({ scripts: { createRuntime: "node evil.js", poststop: "node evil.js" } }));
    writeFileSync(join(dir, "createRuntime"), evil);
    return { dir, marker };
  }

  const hostileEnv = (dir: string): Record<string, string> => ({
    PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
    BUN_BE_BUN: "1",
    BUN_OPTIONS: `--preload ${join(dir, "evil.js")}`,
    BUN_INSPECT: "ws://127.0.0.1:9/x",
    BUN_INSPECT_PRELOAD: join(dir, "evil.js"),
  });

  test.each([
    ["armor-hook", HOOK, "armor-hook 0.1.0", []],
    ["armor-agent", AGENT, "0.1.0", []],
  ])("%s --version", async (_name, binary, expected, kept) => {
    const { dir, marker } = hostileDir();
    const clean = await run([binary, "--version"], { env: { PATH: "/usr/bin:/bin" } });
    const env = Object.fromEntries(Object.entries(hostileEnv(dir)).filter(([name]) => !(kept as string[]).includes(name)));
    const hostile = await run([binary, "--version"], { cwd: dir, env });
    expect(clean.stdout.trim()).toEndWith(expected);
    expect(hostile).toEqual(clean);
    expect(existsSync(marker)).toBe(false);
  });

  test("armor-hook registers a container the same way from a hostile bundle directory and environment", async () => {
    const { dir, marker } = hostileDir();
    const socket = join(workDir(), "armor.sock");
    const agent = await AgentProcess.start(socket);
    defer(() => agent.stop());
    writeFileSync(join(dir, "config.json"), JSON.stringify({ process: { args: ["sleep"] } }));
    const sleeper = Bun.spawn(["sleep", "60"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    defer(async () => {
      sleeper.kill();
      await sleeper.exited;
    });
    const state = JSON.stringify({ ociVersion: "1.2.0", id: "hostile-1", status: "created", pid: sleeper.pid, bundle: dir });
    const ran = await run([HOOK, "createRuntime", "--socket", socket], { stdin: state, cwd: dir, env: hostileEnv(dir) });
    expect(ran).toEqual({ code: 0, stdout: "", stderr: "" });
    expect((await agent.list()).map((c) => c.id)).toEqual(["hostile-1"]);
    const stopped = await run([HOOK, "poststop", "--socket", socket], { stdin: state, cwd: dir, env: hostileEnv(dir) });
    expect(stopped).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(existsSync(marker)).toBe(false);
  });
});
