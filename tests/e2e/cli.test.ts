/** armor-agent's command-line contract, on the compiled binary: strict flags, colour, ARMOR_SOCKET, watch's ends, completion. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { AGENT, HOOK, run } from "./support.ts";
import { perTest } from "./per-test.ts";

const { defer, workDir, startAgent } = perTest("e2e-cli");

/** The commands `armor-agent --help` lists: every one of them is held to the contract. */
async function commands(): Promise<string[]> {
  const help = (await run([AGENT, "--help"])).stdout;
  const listed = /USAGE armor-agent (\S+)/.exec(help)?.[1] ?? "";
  return listed.split("|");
}
const COMMANDS = await commands();

describe("armor-agent flags", () => {
  test("the usage lists the commands", () => {
    expect(COMMANDS).toEqual(expect.arrayContaining(["serve", "status", "list", "get", "lookup", "watch", "hook-log", "check-hooks", "completion"]));
  });

  // Flags are checked before anything runs or any argument is read: no positional is needed.
  test.each(COMMANDS)("%s with an unknown flag exits 2 with one line naming it, doing nothing", async (command) => {
    const socket = join(workDir(), "absent.sock");
    const ran = await run([AGENT, command, "--frobnicate", "--socket", socket]);
    expect(ran.code).toBe(2);
    expect(ran.stdout).toBe("");
    expect(ran.stderr).toBe(`armor-agent: E_USAGE: unknown flag --frobnicate for "armor-agent ${command}" (armor-agent ${command} --help lists its flags)\n`);
  });

  test("list -o json is refused, not answered with a table", async () => {
    const agent = await startAgent(join(workDir(), "run", "armor.sock"));
    const ran = await agent.cli(["list", "-o", "json"]);
    expect(ran).toMatchObject({ code: 2, stdout: "" });
    expect(ran.stderr).toContain("unknown flag -o");
  });

  test("a value flag without its value is a usage error", async () => {
    const ran = await run([AGENT, "list", "--socket"]);
    expect(ran).toMatchObject({ code: 2, stderr: "armor-agent: E_USAGE: --socket needs a value\n" });
  });
});

describe("colour", () => {
  // script(1) gives the binary a terminal; without it, output goes to a pipe.
  const onTerminal = (env: Record<string, string>) =>
    run(["script", "-qec", `${AGENT} list --help`, "/dev/null"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TERM: "xterm", ...env } });

  test("usage is coloured on a terminal", async () => {
    expect((await onTerminal({})).stdout).toContain("\u001b[");
  });

  test.each(["1", "yes"])("never with NO_COLOR=%s", async (value) => {
    const ran = await onTerminal({ NO_COLOR: value });
    expect(ran.stdout).toContain("USAGE armor-agent list");
    expect(ran.stdout).not.toContain("\u001b[");
  });

  test("never into a pipe", async () => {
    const ran = await run([AGENT, "list", "--help"], { env: { PATH: "/usr/bin:/bin", TERM: "xterm" } });
    expect(ran.stdout).toContain("USAGE armor-agent list");
    expect(ran.stdout).not.toContain("\u001b[");
  });
});

describe("ARMOR_SOCKET", () => {
  test("is the default of --socket; --socket wins over it", async () => {
    const dir = workDir();
    const agent = await startAgent(join(dir, "run", "armor.sock"));
    const viaEnv = await run([AGENT, "list", "--json"], { env: { ARMOR_SOCKET: agent.socket } });
    expect(viaEnv).toMatchObject({ code: 0, stdout: "[]\n" });
    const other = join(dir, "other.sock");
    const explicit = await run([AGENT, "list", "--socket", other], { env: { ARMOR_SOCKET: agent.socket } });
    expect(explicit.code).toBe(4);
    expect(explicit.stderr).toContain(other);
  });
});

describe("watch", () => {
  test("exits 4 with one line when the agent goes away", async () => {
    const agent = await startAgent(join(workDir(), "run", "armor.sock"));
    const watcher = Bun.spawn([AGENT, "watch", "--socket", agent.socket], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    defer(async () => {
      watcher.kill();
      await watcher.exited;
    });
    await Bun.sleep(300);
    await agent.stop();
    expect(await watcher.exited).toBe(4);
    expect(await new Response(watcher.stderr).text()).toBe(`armor-agent: E_AGENT_UNREACHABLE: the agent at ${agent.socket} closed the watch stream\n`);
  });

  test("ends quietly when its reader closes the pipe", async () => {
    const dir = workDir();
    const agent = await startAgent(join(dir, "run", "armor.sock"));
    const sleeper = Bun.spawn(["sleep", "60"], { stdin: "ignore" });
    defer(async () => {
      sleeper.kill();
      await sleeper.exited;
    });
    await Bun.write(join(dir, "config.json"), "{}");
    // bash keeps watch's own status and stderr; head reads one line and closes the pipe.
    const script = `${AGENT} watch --json --socket ${agent.socket} 2>${dir}/watch.err | head -n 1 >${dir}/first; echo "\${PIPESTATUS[0]}" >${dir}/status`;
    const pipeline = Bun.spawn(["bash", "-c", script], { stdin: "ignore" });
    defer(async () => {
      pipeline.kill();
      await pipeline.exited;
    });
    await Bun.sleep(300);
    for (let i = 0; i < 20 && pipeline.exitCode === null; i++) {
      const state = JSON.stringify({ id: `piped-${i}`, status: "creating", pid: sleeper.pid, bundle: dir });
      await run([HOOK, "--socket", agent.socket], { stdin: state });
      await Bun.sleep(50);
    }
    await pipeline.exited;
    expect(await Bun.file(join(dir, "status")).text()).toBe("0\n");
    expect(await Bun.file(join(dir, "watch.err")).text()).toBe("");
    // The first line is the snapshot; the adds after it meet the closed pipe.
    expect(await Bun.file(join(dir, "first")).text()).toContain('"event":"snapshot"');
  });
});

describe("completion bash", () => {
  test("completes the commands and a command's flags, generated from the binary's own tables", async () => {
    const dir = workDir();
    const script = (await run([AGENT, "completion", "bash"])).stdout;
    await Bun.write(join(dir, "c.bash"), script);
    const offer = async (...words: string[]) => {
      const probe = `source ${dir}/c.bash; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _armor_agent_complete; echo "\${COMPREPLY[*]}"`;
      return (await run(["bash", "--norc", "-c", probe])).stdout.trim().split(" ");
    };
    expect(await offer("armor-agent", "")).toEqual(expect.arrayContaining(["serve", "list", "watch", "hook-log", "completion"]));
    expect(await offer("armor-agent", "serve", "--log-level", "")).toEqual(["debug", "info", "warn", "error"]);
    expect(await offer("armor-agent", "list", "--")).toEqual(expect.arrayContaining(["--socket", "--json", "--timeout-ms"]));
  });
});
