/**
 * Every environment variable name the embedded Bun/JSC runtime reads is inert in both compiled
 * binaries (scripts/runtime-env.ts), and the build fails on a name nobody classified.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { elfSections, OTHER_ENV, patchRuntimeEnv, RUNTIME_ENV } from "../../scripts/runtime-env.ts";
import { AGENT, HOOK, run, waitFor } from "./support.ts";
import { perTest } from "./per-test.ts";

// Compiling a fresh runtime to scan takes a few seconds on a busy machine.
setDefaultTimeout(120_000);

const PATH = "/usr/sbin:/usr/bin:/sbin:/bin";
const { defer, workDir } = perTest("e2e-runtime-env");

/** A hook call against a real agent: the container is registered, nothing on stdout or stderr. */
async function registerWith(env: Record<string, string>): Promise<{ hook: { code: number; stdout: string; stderr: string }; listed: string }> {
  const dir = workDir();
  const socket = join(dir, "armor.sock");
  const agent = Bun.spawn([AGENT, "serve", "--socket", socket], { env: { PATH, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  defer(async () => {
    agent.kill("SIGTERM");
    await agent.exited;
  });
  await waitFor("the agent's socket", async () => {
    if (agent.exitCode !== null) throw new Error(`agent exited with ${agent.exitCode}: ${await new Response(agent.stderr).text()}`);
    return (await run([AGENT, "status", "--socket", socket], { env: { PATH } })).code === 0;
  });
  writeFileSync(join(dir, "config.json"), JSON.stringify({ process: { args: ["sleep"] } }));
  const sleeper = Bun.spawn(["sleep", "60"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  defer(async () => {
    sleeper.kill();
    await sleeper.exited;
  });
  const state = JSON.stringify({ ociVersion: "1.2.0", id: "env-1", status: "created", pid: sleeper.pid, bundle: dir });
  const hook = await run([HOOK, "createRuntime", "--socket", socket, "--no-log-file"], { stdin: state, cwd: dir, env: { PATH, ...env } });
  const listed = (await run([AGENT, "list", "--socket", socket], { env: { PATH, ...env } })).stdout;
  return { hook, listed };
}

describe("the environment does not reach the runtime of either binary", () => {
  test.each([
    ["BUN_JSC_maxPerThreadStackUsage", "20000"],
    ["BUN_JSC_dumpOptions", "1"],
    ["BUN_JSC_useJIT", "nonsense"],
    ["SIMDUTF_FORCE_IMPLEMENTATION", "bogus"],
    ["NODE_CHANNEL_FD", "abc"],
  ])("%s=%s: the hook registers a container with the agent, and neither writes a byte more", async (name, value) => {
    const { hook, listed } = await registerWith({ [name]: value });
    expect(hook).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(listed).toContain("env-1");
  });

  test.each([
    ["armor-hook", HOOK],
    ["armor-agent", AGENT],
  ])("%s: every name the build erased, set at once, changes nothing; BUN_BYTECODE_ORDER_OUT writes no file", async (_, binary) => {
    const dir = workDir();
    const out = join(dir, "order.out");
    const hostile: Record<string, string> = { PATH, BUN_JSC_dumpOptions: "1", BUN_JSC_maxPerThreadStackUsage: "20000" };
    for (const [name, { erase }] of [...RUNTIME_ENV, ...OTHER_ENV]) if (erase) hostile[name] = name.startsWith("BUN_INSPECT") ? "ws://127.0.0.1:9/x" : "1";
    Object.assign(hostile, {
      BUN_BYTECODE_ORDER_OUT: out,
      BUN_BYTECODE_ORDER_NAMES_OUT: `${out}.names`,
      BUN_BYTECODE_DIGEST_OUT: `${out}.digest`,
      BUN_OPTIONS: "--help",
      SIMDUTF_FORCE_IMPLEMENTATION: "bogus",
      NODE_CHANNEL_FD: "abc",
      JSC_useJIT: "0",
      JSC_dumpOptions: "1",
    });
    const clean = await run([binary, "--version"], { env: { PATH } });
    expect(clean.code).toBe(0);
    expect(await run([binary, "--version"], { env: hostile, cwd: dir })).toEqual(clean);
    expect(existsSync(out) || existsSync(`${out}.names`) || existsSync(`${out}.digest`)).toBe(false);
  });

  test("check-hooks prints its own messages whole: no NUL bytes where they name BUN_ variables", async () => {
    const dir = workDir();
    const entry = (env?: string[]) => ({
      version: "1.0.0",
      hook: { path: "/x/armor-hook", ...(env ? { env } : {}) },
      when: { always: true },
      stages: ["poststop"],
    });
    writeFileSync(join(dir, "a.json"), JSON.stringify(entry()));
    writeFileSync(join(dir, "b.json"), JSON.stringify(entry(["BUN_OPTIONS=1"])));
    const ran = await run([AGENT, "check-hooks", join(dir, "a.json"), join(dir, "b.json")], { env: { PATH } });
    expect(ran.stdout).not.toContain("\u0000");
    expect(ran.stdout).toContain("hook.env is not set: armor-hook would inherit the runtime environment (BUN_OPTIONS, BUN_BE_BUN)");
    expect(ran.stdout).toContain("hook.env sets a BUN_ variable: the compiled hook would obey it");
  });

  test.each([
    ["armor-hook createRuntime (agent down)", HOOK, ["createRuntime", "--socket", "/nonexistent/armor.sock", "--no-log-file"]],
    ["armor-agent status", AGENT, ["status", "--socket", "/nonexistent/armor.sock"]],
  ])("%s calls getenv() only for names classified as harmless (traced with gdb)", async (_, binary, args) => {
    const dir = workDir();
    const script = join(dir, "trace.gdb");
    const state = join(dir, "state.json");
    writeFileSync(join(dir, "config.json"), JSON.stringify({ process: { args: ["sleep"] } }));
    writeFileSync(state, JSON.stringify({ ociVersion: "1.2.0", id: "traced", status: "created", pid: process.pid, bundle: dir }));
    writeFileSync(
      script,
      [
        "set pagination off",
        "set confirm off",
        "set breakpoint pending on",
        "break getenv",
        "commands",
        "silent",
        'printf "GETENV<%s>\\n", (char*)$rdi',
        "continue",
        "end",
        `run < ${state}`,
        "quit",
      ].join("\n"),
    );
    const traced = await run(["gdb", "-q", "-batch", "-x", script, "--args", binary, ...args], { env: { PATH }, cwd: dir });
    expect(traced.stdout).toContain("exited");
    const names = new Set([...traced.stdout.matchAll(/^GETENV<(.*)>$/gm)].map((m) => m[1] as string));
    expect(names.size).toBeGreaterThan(0);
    const kept = [...OTHER_ENV].filter(([, { erase }]) => !erase).map(([name]) => name);
    expect([...names].filter((name) => name !== "" && !kept.includes(name)).sort()).toEqual([]);
  });
});

describe("patchRuntimeEnv()", () => {
  /** A freshly compiled, unpatched runtime. */
  async function freshRuntime(): Promise<Uint8Array> {
    const dir = workDir();
    writeFileSync(join(dir, "main.ts"), 'console.log("hi");\n');
    const built = await run(["bun", "build", "--compile", join(dir, "main.ts"), "--outfile", join(dir, "main")]);
    expect(built.code).toBe(0);
    return new Uint8Array(await Bun.file(join(dir, "main")).arrayBuffer());
  }

  test("classifies every name of this Bun, and fails the build on one nobody classified", async () => {
    const binary = await freshRuntime();
    const pristine = binary.slice();
    const patched = binary.slice();
    expect(patchRuntimeEnv(patched).erased.size).toBeGreaterThan(700);
    // Only the runtime's string table and one branch change: Bun's built-in JavaScript (the
    // inspector's source among it) and our own bundle stay byte for byte.
    const sections = elfSections(pristine);
    const inside = (at: number, name: string): boolean => {
      const s = sections.get(name);
      return s !== undefined && at >= s.offset && at < s.offset + s.size;
    };
    const changed: number[] = [];
    for (let i = 0; i < pristine.length; i++) if (pristine[i] !== patched[i]) changed.push(i);
    expect(changed.filter((at) => !inside(at, ".rodata"))).toHaveLength(1);
    expect(changed.filter((at) => inside(at, ".text"))).toHaveLength(1);
    // What a Bun upgrade that reads a new variable looks like: BUN_TRACE becomes BUN_TRACX.
    const at = Buffer.from(pristine).indexOf("\u0000BUN_TRACE\u0000", 0, "latin1") + 1;
    expect(at).toBeGreaterThan(0);
    pristine[at + 8] = "X".charCodeAt(0);
    expect(() => patchRuntimeEnv(pristine)).toThrow(/unclassified environment name at \.rodata\+0x[0-9a-f]+: .*BUN_TRACX/);
  });
});
