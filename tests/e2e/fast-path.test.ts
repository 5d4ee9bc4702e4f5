/**
 * The compiled hook's fast path (lib/hook/fast.ts) and the full path (runHook() through
 * lib/hook/full.ts) give the same outcome on the same input: exit status, the line on stderr,
 * the record the agent holds, the log line. Each path has an agent of its own; every case runs
 * through both: the compiled binary (healthy cases stay on the fast path, the rest are handed
 * over) and the full path alone (tests/e2e/_full-hook.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { AgentProcess, HOOK, HOOK_ENV, removeDir, run, tempDir, type Ran } from "./support.ts";

const FULL = join(import.meta.dir, "_full-hook.ts");
const env = Object.fromEntries(HOOK_ENV.map((entry) => entry.split("=", 2) as [string, string]));
type Path = "fast" | "full";

let work: string;
const agents = {} as Record<Path, AgentProcess>;
let sleeper: Subprocess;
let silent: ReturnType<typeof Bun.listen> | undefined;

beforeAll(async () => {
  work = tempDir("e2e-fast");
  for (const path of ["fast", "full"] as const) agents[path] = await AgentProcess.start(join(work, path, "armor.sock"));
  sleeper = Bun.spawn(["sleep", "600"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  silent = Bun.listen({ unix: join(work, "silent.sock"), socket: { data() {} } });
});

afterAll(async () => {
  silent?.stop(true);
  sleeper?.kill();
  await sleeper?.exited;
  for (const agent of Object.values(agents)) await agent?.stop();
  removeDir(work);
});

function bundle(name: string, config: string | undefined): string {
  const dir = join(work, "bundles", name);
  mkdirSync(dir, { recursive: true });
  if (config !== undefined) writeFileSync(join(dir, "config.json"), config);
  return dir;
}
const state = (fields: Record<string, unknown>) => JSON.stringify({ ociVersion: "1.2.0", status: "creating", ...fields });
const annotations = { "io.kubernetes.pod.name": "web", "io.kubernetes.pod.namespace": "shop", "io.kubernetes.container.name": "nginx" };

/** One input: argv (before --socket), stdin, and which socket it talks to. */
interface Case {
  name: string;
  args?: string[];
  stdin: () => string;
  socket?: "agent" | "down" | "silent";
}

const cases: Case[] = [
  {
    name: "createRuntime with an AppArmor profile and pod annotations",
    args: ["createRuntime"],
    stdin: () =>
      state({
        id: "c-apparmor",
        pid: sleeper.pid,
        bundle: bundle("apparmor", JSON.stringify({ process: { args: ["nginx"], apparmorProfile: "k8s-nginx" } })),
        annotations,
      }),
  },
  { name: "createRuntime from the status, config.json without process", stdin: () => state({ id: "c-bare", pid: sleeper.pid, bundle: bundle("bare", "{}") }) },
  {
    // Both reads grow past their first 4 KiB buffer (lib/hook/sync-io.ts): a Kubernetes config.json is often tens of KiB.
    name: "createRuntime with a 200 KiB config.json and a 6 KiB state",
    args: ["createRuntime"],
    stdin: () =>
      state({
        id: "c-large",
        pid: sleeper.pid,
        bundle: bundle("large", JSON.stringify({ process: { args: ["nginx"] }, annotations: { "example.com/big": "b".repeat(200_000) } })),
        annotations: { ...annotations, "example.com/note": "n".repeat(6000) },
      }),
  },
  { name: "prestart as createRuntime", args: ["prestart"], stdin: () => state({ id: "c-prestart", pid: sleeper.pid, bundle: bundle("prestart", "{}") }) },
  { name: "poststop of a held container", args: ["poststop"], stdin: () => state({ id: "c-apparmor", status: "stopped", bundle: "/nonexistent" }) },
  { name: "poststop of a container never held, pid 0", args: ["poststop"], stdin: () => state({ id: "never", status: "stopped", pid: 0 }) },
  { name: "poststop from the status", stdin: () => state({ id: "never-2", status: "stopped" }) },
  { name: "empty stdin", stdin: () => "" },
  { name: "garbage stdin", stdin: () => "\u0000\u0001garbage" },
  { name: "a state without id", stdin: () => JSON.stringify({ status: "creating", pid: sleeper.pid, bundle: "/x" }) },
  { name: "createRuntime without a pid", args: ["createRuntime"], stdin: () => state({ id: "no-pid", bundle: "/x" }) },
  { name: "a bundle without config.json", stdin: () => state({ id: "nocfg", pid: sleeper.pid, bundle: bundle("nocfg", undefined) }) },
  { name: "a config.json that is not JSON", stdin: () => state({ id: "badcfg", pid: sleeper.pid, bundle: bundle("badcfg", "{not json") }) },
  { name: "a config.json with a bad field", stdin: () => state({ id: "badfield", pid: sleeper.pid, bundle: bundle("badfield", '{"process":{"args":"sh"}}') }) },
  { name: "a pid that no longer exists", stdin: () => state({ id: "gone", pid: 2 ** 22 + 7, bundle: bundle("gone", "{}") }) },
  { name: "a container id the agent refuses", stdin: () => state({ id: "bad/id", pid: sleeper.pid, bundle: bundle("badid", "{}") }) },
  { name: "an unknown stage", args: ["prestop"], stdin: () => state({ id: "stage", pid: sleeper.pid, bundle: "/x" }) },
  { name: "a status that names no stage", stdin: () => state({ id: "stage", status: "running", pid: sleeper.pid }) },
  { name: "an unknown flag", args: ["--sockett=x"], stdin: () => "{}" },
  { name: "--version", args: ["--version"], stdin: () => "" },
  { name: "no agent, fail-open", socket: "down", stdin: () => state({ id: "down-1", pid: sleeper.pid, bundle: bundle("down", "{}") }) },
  {
    name: "no agent, fail-closed, outside the allow-list",
    args: ["--fail-policy", "closed"],
    socket: "down",
    stdin: () => state({ id: "down-2", pid: sleeper.pid, bundle: bundle("down2", "{}"), annotations }),
  },
  {
    name: "an agent that never answers",
    args: ["--timeout-ms", "400"],
    socket: "silent",
    stdin: () => state({ id: "silent-1", pid: sleeper.pid, bundle: bundle("silent", "{}") }),
  },
];

/** Runs one case through one path; its log goes to a file of its own (appended by the hook itself). */
async function runCase(path: Path, c: Case, index: number): Promise<{ ran: Ran; log: Record<string, unknown>[] }> {
  const socket = c.socket === "down" ? join(work, path, "nobody", "armor.sock") : c.socket === "silent" ? join(work, "silent.sock") : agents[path].socket;
  const log = join(work, path, `case-${index}.log`);
  const argv = [...(c.args ?? []), "--socket", socket, "--log-file", log];
  const ran = await run(path === "fast" ? [HOOK, ...argv] : [process.execPath, FULL, ...argv], { stdin: c.stdin(), env });
  const lines = existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [];
  return { ran, log: lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

/** What must agree: everything but the paths' own names, times and pids. */
function normalize(text: string): string {
  return text
    .replaceAll(join(work, "fast"), "<dir>")
    .replaceAll(join(work, "full"), "<dir>")
    .replace(/within \d+ ms/g, "within N ms");
}
function logFacts(record: Record<string, unknown>): Record<string, unknown> {
  const { time: _time, ms: _ms, pid: _pid, ...facts } = record;
  return Object.fromEntries(Object.entries(facts).map(([key, value]) => [key, typeof value === "string" ? normalize(value) : value]));
}

describe("the fast path and the full path", () => {
  test.each(cases.map((c, i) => [c.name, c, i] as const))("%s: the same outcome", async (_name, c, index) => {
    const fast = await runCase("fast", c, index);
    const full = await runCase("full", c, index);
    expect({ code: fast.ran.code, stdout: fast.ran.stdout, stderr: normalize(fast.ran.stderr) }).toEqual({
      code: full.ran.code,
      stdout: full.ran.stdout,
      stderr: normalize(full.ran.stderr),
    });
    expect(fast.log.map(logFacts)).toEqual(full.log.map(logFacts));
    const held = async (path: Path) => (await agents[path].list()).map(({ registeredAt: _at, ...record }) => record);
    expect(await held("fast")).toEqual(await held("full"));
  });

  test("the healthy cases registered and unregistered what they said", async () => {
    const ids = (await agents.fast.list()).map((record) => record.id).sort();
    expect(ids).toEqual(["c-bare", "c-large", "c-prestart"]);
  });
});
