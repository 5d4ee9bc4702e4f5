/** The compiled agent as a daemon: its socket's life cycle, a second agent, signals, watch, and bad clients. */
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AgentClient } from "../../lib/client.ts";
import { spoolFileName } from "../../lib/spool-format.ts";
import { AGENT, AgentProcess, HOOK, hostNamespaces, readUntil, run, waitFor } from "./support.ts";
import { perTest } from "./per-test.ts";

const { defer, workDir, startAgent } = perTest("e2e-agent");

describe("armor-agent serve", () => {
  test("creates the socket directory 0700 and the socket 0600, and removes the socket on SIGTERM", async () => {
    const socket = join(workDir(), "run", "armor", "armor.sock");
    const agent = await startAgent(socket);
    expect(statSync(join(socket, "..")).mode & 0o777).toBe(0o700);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(socket).isSocket()).toBe(true);
    expect(await agent.stop()).toBe(0);
    expect(existsSync(socket)).toBe(false);
  });

  test("refuses to start while another agent holds the socket's lock, with one line naming it; the first keeps serving", async () => {
    const socket = join(workDir(), "run", "armor.sock");
    const first = await startAgent(socket);
    const second = await run([AGENT, "serve", "--socket", socket]);
    expect(second.code).toBe(5);
    const lock = join(socket, "..", "agent.lock");
    expect(second.stderr).toBe(`armor-agent: E_SOCKET: another agent (pid ${first.proc.pid}) holds ${lock}; not starting a second one\n`);
    expect((await first.cli(["list", "--json"])).code).toBe(0);
  });

  test("two agents started at once over a spool of 2,000 events: one serves all of them, the other exits 5 naming it", async () => {
    const dir = join(workDir(), "run");
    const socket = join(dir, "armor.sock");
    const spool = join(dir, "spool");
    mkdirSync(spool, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    // Every spooled container is this test's own process: alive, with its namespaces, so the replay keeps it.
    const namespaces = hostNamespaces(process.pid);
    const at = Date.now() * 1000;
    for (let i = 0; i < 2000; i++) {
      const container = {
        id: `spooled-${i}`,
        pid: process.pid,
        bundle: `/b/${i}`,
        namespaces,
        apparmorProfile: null,
        pod: null,
        containerName: null,
        sandboxId: null,
        image: null,
      };
      const text = JSON.stringify({ v: 1, at: at + i, op: "register", container });
      writeFileSync(join(spool, spoolFileName(at + i, 1000 + i, i, Buffer.byteLength(text))), text, { mode: 0o600 });
    }
    const spawn = () => Bun.spawn([AGENT, "serve", "--socket", socket], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    const agents = [spawn(), spawn()];
    defer(async () => {
      for (const agent of agents) if (agent.exitCode === null) agent.kill("SIGTERM");
      await Promise.all(agents.map((agent) => agent.exited));
    });
    const loser = await Promise.race(agents.map((agent) => agent.exited.then(() => agent)));
    const winner = agents.find((agent) => agent !== loser) as (typeof agents)[number];
    expect(loser.exitCode).toBe(5);
    expect(await new Response(loser.stderr).text()).toBe(
      `armor-agent: E_SOCKET: another agent (pid ${winner.pid}) holds ${join(dir, "agent.lock")}; not starting a second one\n`,
    );
    let held = 0;
    await waitFor(
      "the winner to hold the spool",
      async () => {
        const list = await run([AGENT, "list", "--json", "--socket", socket]);
        held = list.code === 0 ? (JSON.parse(list.stdout) as unknown[]).length : 0;
        return held === 2000;
      },
      30_000,
    );
    expect(held).toBe(2000);
    expect(readdirSync(spool)).toEqual([]);
    expect(winner.exitCode).toBeNull();
  });

  test("replaces a stale socket left by an agent killed with SIGKILL", async () => {
    const socket = join(workDir(), "run", "armor.sock");
    const first = await AgentProcess.start(socket);
    first.proc.kill("SIGKILL");
    await first.proc.exited;
    expect(existsSync(socket)).toBe(true);
    const second = await startAgent(socket);
    expect(await second.list()).toEqual([]);
  });

  test("refuses a socket directory that others can write to", async () => {
    const dir = join(workDir(), "open");
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    const ran = await run([AGENT, "serve", "--socket", join(dir, "armor.sock")]);
    expect(ran.code).toBe(5);
    expect(ran.stderr).toMatch(/E_SOCKET: socket directory .* is writable by group or others/);
  });
});

describe("armor-agent clients", () => {
  test("watch --json prints the snapshot, then an add and a remove as the hook registers and unregisters", async () => {
    const dir = workDir();
    const agent = await startAgent(join(dir, "run", "armor.sock"));
    const watcher = Bun.spawn([AGENT, "watch", "--json", "--socket", agent.socket], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    defer(async () => {
      watcher.kill();
      await watcher.exited;
    });
    const sleeper = Bun.spawn(["sleep", "60"], { stdin: "ignore" });
    defer(async () => {
      sleeper.kill();
      await sleeper.exited;
    });
    await Bun.write(join(dir, "config.json"), "{}");
    // Give the watcher time to subscribe before the first change.
    await waitFor("the watcher to connect", async () => (await agent.cli(["list"])).code === 0);
    await Bun.sleep(300);
    const state = (status: string) => JSON.stringify({ id: "watched", status, pid: sleeper.pid, bundle: dir });
    expect((await run([HOOK, "--socket", agent.socket], { stdin: state("creating") })).code).toBe(0);
    expect((await run([HOOK, "--socket", agent.socket], { stdin: state("stopped") })).code).toBe(0);
    const out = await readUntil(watcher.stdout, '"event":"remove"', 5000);
    const events = out
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { event: string; rev: number; container?: { id: string } });
    expect(events.map((e) => [e.event, e.rev, e.container?.id ?? null])).toEqual([
      ["snapshot", 0, null],
      ["add", 1, "watched"],
      ["remove", 2, "watched"],
    ]);
  });

  test("a client sending garbage and one stalling mid-frame do not disturb the others", async () => {
    const agent = await startAgent(join(workDir(), "run", "armor.sock"));
    const sockets: Array<{ end: () => void }> = [];
    const received: string[] = [];
    const garbage = await Bun.connect({ unix: agent.socket, socket: { data: (_s, chunk) => void received.push(Buffer.from(chunk).toString()) } });
    garbage.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
    const stalled = await Bun.connect({ unix: agent.socket, socket: { data() {} } });
    stalled.write(Buffer.from([0, 0, 0, 50, 0x7b]));
    sockets.push(garbage, stalled);
    defer(() => sockets.forEach((s) => s.end()));
    await waitFor("an error answer to the oversize frame", () => received.join("").includes("E_FRAME_TOO_LARGE"), 3000);
    const list = await agent.cli(["list", "--json"]);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([]);
    expect(agent.proc.exitCode).toBeNull();
  });

  test("get and lookup of what the agent does not hold exit 3 with one line", async () => {
    const agent = await startAgent(join(workDir(), "run", "armor.sock"));
    const get = await agent.cli(["get", "nope"]);
    expect(get).toMatchObject({ code: 3, stdout: "" });
    expect(get.stderr).toBe('armor-agent: E_NOT_FOUND: the agent holds no container "nope"\n');
    const lookup = await agent.cli(["lookup", "4026531836", "4026531840"]);
    expect(lookup.code).toBe(3);
  });

  test("client commands against no agent exit 4 naming the socket", async () => {
    const socket = join(workDir(), "none.sock");
    const ran = await run([AGENT, "list", "--socket", socket]);
    expect(ran.code).toBe(4);
    expect(ran.stderr).toContain(`E_AGENT_UNREACHABLE: cannot reach agent at ${socket}`);
  });
});

describe("armor-agent watch over a registry larger than the watcher bound", () => {
  test("600 records of ~30 KiB (18 MiB, within the registry's 32 MiB): watch gets the whole snapshot, then the next change", async () => {
    const socket = join(workDir(), "run", "armor.sock");
    await startAgent(socket);
    const client = await AgentClient.connect({ socket, timeoutMs: 10_000 });
    defer(() => client.close());
    const long = (c: string) => c.repeat(4000);
    const record = (id: string) => ({
      id,
      pid: 1,
      bundle: `/b/${long("b")}`,
      namespaces: {},
      apparmorProfile: long("a"),
      pod: { name: long("p"), namespace: long("q"), uid: long("u") },
      containerName: long("n"),
      sandboxId: long("s"),
      image: long("i"),
      containerType: null,
      cgroup: null,
    });
    for (let i = 0; i < 600; i++) await client.request({ op: "register", source: "hook", container: record(`big-${i}`) });
    const watch = Bun.spawn([AGENT, "watch", "--json", "--socket", socket], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    defer(async () => {
      watch.kill();
      await watch.exited;
    });
    const reader = watch.stdout.getReader();
    let text = "";
    /** Whole lines only: the snapshot comes in many chunks. */
    const lines = (): string[] => text.split("\n").slice(0, -1);
    const readLines = async (count: number): Promise<void> => {
      while (lines().length < count) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`watch ended: ${await new Response(watch.stderr).text()}`);
        text += new TextDecoder().decode(value);
      }
    };
    await readLines(1);
    const snapshot = JSON.parse(lines()[0] ?? "{}") as { event: string; containers: unknown[] };
    expect(snapshot.event).toBe("snapshot");
    expect(snapshot.containers).toHaveLength(600);
    await client.request({ op: "register", source: "hook", container: record("after") });
    await readLines(2);
    expect(JSON.parse(lines()[1] ?? "{}")).toMatchObject({ event: "add", container: { id: "after" } });
    expect(watch.exitCode).toBeNull();
  }, 60_000);
});
