/**
 * The agent under the systemd unit's capability set, and without it: reading /proc/<pid>/ns of a
 * running container needs CAP_SYS_PTRACE, and an agent that lacks it says so (log, metric, status)
 * instead of being ready as if the node were empty.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AGENT, freePort, removeDir, run, tempDir, waitFor } from "./support.ts";
import { perTest } from "./per-test.ts";

const { defer } = perTest("e2e-capabilities");

/** A runc-format state root holding one running "container": a sleep with the test's full capabilities. */
function fakeNode(dir: string): string {
  const sleeper = Bun.spawn(["sleep", "120"], { stdin: "ignore" });
  defer(async () => {
    sleeper.kill();
    await sleeper.exited;
  });
  const root = join(dir, "runc");
  const bundle = join(dir, "bundle");
  mkdirSync(join(root, "c1"), { recursive: true });
  mkdirSync(bundle);
  writeFileSync(join(bundle, "config.json"), "{}");
  const start = Number(readFileSync(`/proc/${sleeper.pid}/stat`, "utf8").split(") ")[1]?.split(" ")[19]);
  writeFileSync(
    join(root, "c1", "state.json"),
    JSON.stringify({ id: "c1", init_process_pid: sleeper.pid, init_process_start: start, config: { labels: [`bundle=${bundle}`] } }),
  );
  return root;
}

/** Runs `serve --reconcile` as root with only `caps` in its bounding set (setpriv), and waits until it is ready. */
async function agentWith(caps: string[]): Promise<{ socket: string; metrics: () => Promise<string>; log: () => string }> {
  const dir = tempDir("e2e-caps");
  defer(() => removeDir(dir));
  const root = fakeNode(dir);
  const socket = join(dir, "run", "armor.sock");
  const addr = `127.0.0.1:${freePort()}`;
  const bounding = ["-all", ...caps.map((cap) => `+${cap}`)].join(",");
  const proc = Bun.spawn(
    [
      "setpriv",
      `--bounding-set=${bounding}`,
      "--inh-caps=-all",
      "--",
      AGENT,
      "serve",
      "--socket",
      socket,
      "--reconcile",
      "--settle-ms",
      "0",
      "--state-root",
      `runc:${root}`,
      "--metrics",
      addr,
    ],
    { stdin: "ignore", stdout: "ignore", stderr: "pipe" },
  );
  let log = "";
  void (async () => {
    for await (const chunk of proc.stderr) log += new TextDecoder().decode(chunk);
  })();
  defer(async () => {
    proc.kill();
    await proc.exited;
  });
  await waitFor("the agent to be ready", async () => (await run([AGENT, "status", "--ready", "--socket", socket])).code === 0);
  return { socket, metrics: async () => (await fetch(`http://${addr}/metrics`)).text(), log: () => log };
}

const value = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe("serve --reconcile and capabilities", () => {
  test("with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH only (the systemd unit's set) it finds the running container", async () => {
    const agent = await agentWith(["sys_ptrace", "dac_read_search"]);
    const list = JSON.parse((await run([AGENT, "list", "--json", "--socket", agent.socket])).stdout) as Array<{ id: string }>;
    expect(list.map((c) => c.id)).toEqual(["c1"]);
    const text = await agent.metrics();
    expect(value(text, "armor_bootstrap_incomplete")).toBe(0);
    expect(value(text, "armor_proc_denied_total")).toBe(0);
  });

  test("with no capabilities it is ready but says what it missed: log, metric and status", async () => {
    const agent = await agentWith([]);
    const status = JSON.parse((await run([AGENT, "status", "--json", "--socket", agent.socket])).stdout) as {
      containers: number;
      bootstrap: { warning: string | null };
    };
    expect(status.containers).toBe(0);
    expect(status.bootstrap.warning).toContain("1 running containers could not be read (/proc/<pid>/ns denied: the agent needs CAP_SYS_PTRACE)");
    const text = await agent.metrics();
    expect(value(text, "armor_bootstrap_incomplete")).toBe(1);
    expect(value(text, "armor_proc_denied_total")).toBe(1);
    const warnings = agent
      .log()
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { level: string; msg: string; id?: string })
      .filter((record) => record.level === "warn");
    expect(warnings.map((w) => w.msg)).toContain("cannot read a running container's namespaces: permission denied (the agent needs CAP_SYS_PTRACE)");
    expect(warnings.find((w) => w.id !== undefined)?.id).toBe("c1");
  });
});
