/**
 * The compiled hook run directly, as a runtime would run it, on bundles written
 * here: the AppArmor field (runc here refuses apparmorProfile: AppArmor is off in
 * this kernel), bad input, and an agent that is down or silent.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { encodeFrame, FrameDecoder } from "../../lib/wire/frame.ts";
import { AgentProcess, HOOK, HOOK_ENV, removeDir, run, tempDir } from "./support.ts";

let work: string;
let agent: AgentProcess;
let sleeper: Subprocess;

const env = Object.fromEntries(HOOK_ENV.map((entry) => entry.split("=", 2) as [string, string]));
const hook = (args: string[], stdin: string, socket = agent.socket) => run([HOOK, ...args, "--socket", socket], { stdin, env });
const state = (fields: Record<string, unknown>) => JSON.stringify({ ociVersion: "1.2.0", status: "creating", ...fields });

function writeBundle(name: string, config: string | undefined): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  if (config !== undefined) writeFileSync(join(dir, "config.json"), config);
  return dir;
}

beforeAll(async () => {
  work = tempDir("e2e-hook");
  agent = await AgentProcess.start(join(work, "run", "armor.sock"));
  sleeper = Bun.spawn(["sleep", "600"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
});

afterAll(async () => {
  sleeper?.kill();
  await sleeper?.exited;
  await agent?.stop();
  removeDir(work);
});

describe("armor-hook on a bundle written by the test", () => {
  test("registers process.apparmorProfile from config.json and the state's annotations", async () => {
    const bundle = writeBundle("apparmor", JSON.stringify({ ociVersion: "1.2.0", process: { args: ["nginx"], apparmorProfile: "k8s-nginx-restricted" } }));
    const annotations = { "io.kubernetes.pod.name": "web", "io.kubernetes.pod.namespace": "shop", "io.kubernetes.container.name": "nginx" };
    const ran = await hook(["createRuntime"], state({ id: "apparmor-1", pid: sleeper.pid, bundle, annotations }));
    expect(ran).toMatchObject({ code: 0, stderr: "" });
    const held = (await agent.list()).find((record) => record.id === "apparmor-1");
    expect(held).toMatchObject({
      apparmorProfile: "k8s-nginx-restricted",
      pod: { name: "web", namespace: "shop", uid: null },
      containerName: "nginx",
      pid: sleeper.pid,
    });
    expect(await hook(["poststop"], state({ id: "apparmor-1", status: "stopped", bundle }))).toMatchObject({ code: 0 });
    expect((await agent.list()).some((record) => record.id === "apparmor-1")).toBe(false);
  });

  test("a 5,000-character pod name: registered with the name cut to the agent's bound and marked, never failed", async () => {
    const name = "p".repeat(5000);
    const bundle = writeBundle("long-name", JSON.stringify({ ociVersion: "1.2.0", process: { args: ["nginx"] } }));
    const annotations = { "io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": "shop", "io.kubernetes.container.name": "nginx" };
    const ran = await hook(["createRuntime", "--fail-policy=closed"], state({ id: "long-name-1", pid: sleeper.pid, bundle, annotations }));
    expect(ran).toMatchObject({ code: 0, stderr: "" });
    const held = (await agent.list()).find((record) => record.id === "long-name-1") as { pod: { name: string }; truncated?: string[] } | undefined;
    expect(held?.pod.name).toBe(`${name.slice(0, 4095)}…`);
    expect(held?.truncated).toEqual(["pod.name"]);
    expect(await hook(["poststop"], state({ id: "long-name-1", status: "stopped", bundle }))).toMatchObject({ code: 0 });
  });

  test("a config.json without process or apparmorProfile registers apparmorProfile null", async () => {
    const bundle = writeBundle("no-process", JSON.stringify({ ociVersion: "1.2.0" }));
    expect(await hook([], state({ id: "no-process-1", pid: sleeper.pid, bundle }))).toMatchObject({ code: 0 });
    expect((await agent.list()).find((record) => record.id === "no-process-1")).toMatchObject({ apparmorProfile: null, pod: null });
  });

  test("poststop of a container the agent never held succeeds, as crun's pid 0 and podman's missing pid", async () => {
    expect(await hook(["poststop"], state({ id: "never-held", status: "stopped", pid: 0, bundle: "/nonexistent" }))).toMatchObject({ code: 0, stderr: "" });
    expect(await hook([], state({ id: "never-held-2", status: "stopped" }))).toMatchObject({ code: 0, stderr: "" });
  });

  const badInputs: Array<[string, () => [string[], string], number, RegExp]> = [
    ["empty stdin", () => [[], ""], 3, /E_STATE: OCI state on stdin is empty/],
    ["garbage stdin", () => [[], "\u0000\u0001garbage"], 3, /E_STATE: OCI state on stdin is not valid JSON/],
    ["truncated stdin", () => [[], state({ id: "t", pid: sleeper.pid }).slice(0, 20)], 3, /E_STATE: .*not valid JSON/],
    ["a state without id", () => [[], JSON.stringify({ status: "creating", pid: sleeper.pid, bundle: "/x" })], 3, /E_STATE: OCI state on stdin: id: missing/],
    [
      "a bundle without config.json",
      () => [[], state({ id: "nocfg", pid: sleeper.pid, bundle: writeBundle("nocfg", undefined) })],
      4,
      /E_BUNDLE: .*config\.json: not found/,
    ],
    [
      "a config.json that is not JSON",
      () => [[], state({ id: "badcfg", pid: sleeper.pid, bundle: writeBundle("badcfg", "{not json") })],
      4,
      /E_BUNDLE: .*config\.json is not valid JSON/,
    ],
    [
      "a pid that no longer exists",
      () => [[], state({ id: "gone", pid: 2 ** 22 + 7, bundle: writeBundle("gone", "{}") })],
      5,
      /E_PROCESS_GONE: process \d+ no longer exists/,
    ],
    ["an unknown stage argument", () => [["prestop"], state({ id: "stage", pid: sleeper.pid, bundle: "/x" })], 2, /E_STAGE: unknown stage "prestop"/],
    [
      "a status that names no stage",
      () => [[], state({ id: "stage", status: "running", pid: sleeper.pid, bundle: "/x" })],
      2,
      /E_STAGE: cannot tell the stage from status "running"/,
    ],
    ["an unknown flag", () => [["--sockett", "x"], "{}"], 2, /E_USAGE: unknown flag --sockett/],
  ];

  test.each(badInputs)("%s: one line naming the problem and its documented exit status", async (_name, input, status, message) => {
    const before = await agent.list();
    const [args, stdin] = input();
    const ran = await hook(args, stdin);
    expect(ran.code).toBe(status);
    expect(ran.stderr).toMatch(message);
    expect(ran.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(ran.stderr).toStartWith("armor-hook: ");
    expect(await agent.list()).toEqual(before);
  });
});

describe("armor-hook when the agent cannot answer", () => {
  test("no agent on the socket: exits 0 at once with a fail-open warning", async () => {
    const bundle = writeBundle("down", "{}");
    const started = performance.now();
    const ran = await hook([], state({ id: "down-1", pid: sleeper.pid, bundle }), join(work, "nobody", "armor.sock"));
    expect(ran.code).toBe(0);
    expect(ran.stderr).toMatch(
      /^armor-hook: warning: E_AGENT_UNREACHABLE: cannot reach agent at .*nobody\/armor\.sock: ENOENT \(container down-1\); continuing without the agent \(fail-open\); event not spooled: no .*nobody\/spool\n$/,
    );
    expect(performance.now() - started).toBeLessThan(2000);
  });

  test("a stdin that never closes: its own deadline (E_HOOK_TIMEOUT); a poststop is never refused, a createRuntime is under fail-closed", async () => {
    const spool = join(work, "run", "spool");
    const runOpen = async (stage: string) => {
      const proc = Bun.spawn([HOOK, stage, "--socket", agent.socket, "--timeout-ms", "300", "--fail-policy=closed"], {
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
        env,
      });
      // stdin stays open until the hook has exited.
      const code = await proc.exited;
      const stderr = await new Response(proc.stderr).text();
      proc.stdin.end();
      return { code, stderr };
    };
    expect(readdirSync(spool)).toBeDefined();
    const poststop = await runOpen("poststop");
    expect(poststop.code).toBe(0);
    expect(poststop.stderr).toContain("E_HOOK_TIMEOUT: armor-hook did not finish within 300 ms (reading the OCI state)");
    expect(poststop.stderr).toContain("the container has stopped; nothing to refuse (fail-closed)");
    const create = await runOpen("createRuntime");
    expect(create.code).toBe(7);
    expect(create.stderr).toContain("E_HOOK_TIMEOUT");
  });

  test("an agent that accepts but never answers: gives up after --timeout-ms and exits 0", async () => {
    const silentSocket = join(work, "silent.sock");
    const silent = Bun.listen({ unix: silentSocket, socket: { data() {} } });
    try {
      const bundle = writeBundle("silent", "{}");
      const started = performance.now();
      const ran = await hook(["--timeout-ms", "300"], state({ id: "silent-1", pid: sleeper.pid, bundle }), silentSocket);
      const elapsed = performance.now() - started;
      expect(ran.code).toBe(0);
      // The agent gets --timeout-ms less a reserve for writing the spool; the whole hook stays within it.
      expect(ran.stderr).toMatch(/E_AGENT_TIMEOUT: agent at .*silent\.sock did not answer "register" within \d+ ms/);
      expect(elapsed).toBeGreaterThanOrEqual(200);
      expect(elapsed).toBeLessThan(300 + 1500);
    } finally {
      silent.stop(true);
    }
  });
});

describe("armor-hook's own log", () => {
  test("60 hooks at once into a log rotating at 4 KiB: every call is there once, every line whole, no file far past its bound", async () => {
    const dir = join(work, "log-burst");
    const socket = join(dir, "armor.sock");
    const ids = Array.from({ length: 60 }, (_, i) => `burst-${i}`);
    // No agent: every call is a fail-open warning, with its long message: ~400 bytes a line.
    const runs = await Promise.all(
      ids.map((id) => hook(["poststop", "--log-max-bytes", "4096", "--log-keep", "20"], state({ id, status: "stopped" }), socket)),
    );
    expect(runs.map((r) => r.code)).toEqual(ids.map(() => 0));
    const files = readdirSync(dir)
      .filter((name) => name.startsWith("hook.log"))
      .sort();
    expect(files.length).toBeGreaterThan(3);
    expect(files).not.toContain("hook.log.lock");
    const seen: string[] = [];
    for (const name of files) {
      const text = readFileSync(join(dir, name), "utf8");
      // A writer that finds the file full rotates it; lines in flight meanwhile land in it too.
      expect(text.length).toBeLessThan(4096 + 60 * 600);
      for (const line of text.split("\n").filter((l) => l !== "")) {
        const record = JSON.parse(line) as { container: string; result: string; ms: number };
        expect(record.result).toBe("unconfirmed");
        seen.push(record.container);
      }
    }
    expect(seen.sort()).toEqual([...ids].sort());
  }, 60_000);

  test("--no-log-file writes no log", async () => {
    const dir = join(work, "no-log");
    mkdirSync(dir, { recursive: true });
    const ran = await hook(["poststop", "--no-log-file"], state({ id: "quiet-1", status: "stopped" }), join(dir, "armor.sock"));
    expect(ran.code).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("an agent that answers but cannot take the container, through the compiled hook's fast path", () => {
  /** An agent socket answering every request with `code` (E_BUSY: the server's refusal of a connection, id null, then close). */
  function refusingAgent(name: string, code: "E_REGISTRY_FULL" | "E_DEADLINE" | "E_BUSY") {
    const socket = join(work, name, "armor.sock");
    mkdirSync(join(work, name, "spool"), { recursive: true, mode: 0o700 });
    const asked: string[] = [];
    const listener = Bun.listen<{ frames: FrameDecoder }>({
      unix: socket,
      socket: {
        open(s) {
          s.data = { frames: new FrameDecoder() };
          if (code === "E_BUSY") s.end(encodeFrame({ v: 1, id: null, ok: false, error: { code, message: "too many connections (limit 1)" } }));
        },
        data(s, chunk) {
          for (const payload of s.data.frames.push(new Uint8Array(chunk))) {
            const request = JSON.parse(new TextDecoder().decode(payload)) as { id: number; op: string };
            asked.push(request.op);
            s.write(encodeFrame({ v: 1, id: request.id, ok: false, error: { code, message: `${code} from the test's agent` } }));
          }
        },
      },
    });
    return { socket, spool: join(work, name, "spool"), asked, stop: () => listener.stop(true) };
  }

  test.each(["E_REGISTRY_FULL", "E_DEADLINE", "E_BUSY"] as const)(
    "%s: unconfirmed, so fail-closed refuses the container (exit 7) and fail-open starts it with its add spooled",
    async (code) => {
      const agentDown = refusingAgent(`refusing-${code}`, code);
      try {
        const bundle = writeBundle(`refused-${code}`, JSON.stringify({ process: { args: ["nginx"] } }));
        const annotations = { "io.kubernetes.pod.name": "web", "io.kubernetes.pod.namespace": "shop" };
        const input = state({ id: `full-${code}`, pid: sleeper.pid, bundle, annotations });
        const closed = await hook(["createRuntime", "--fail-policy", "closed", "--no-log-file"], input, agentDown.socket);
        expect(closed.code).toBe(7);
        expect(closed.stderr).toContain('refusing the container (fail-closed: namespace "shop" is not on the allow-list)');
        expect(readdirSync(agentDown.spool)).toEqual([]);
        const open = await hook(["createRuntime", "--no-log-file"], input, agentDown.socket);
        expect(open.code).toBe(0);
        expect(open.stderr).toContain("continuing without the agent (fail-open); event spooled to");
        expect(readdirSync(agentDown.spool).filter((name) => name.endsWith(".json"))).toHaveLength(1);
        if (code !== "E_BUSY") expect(agentDown.asked.every((op) => op === "register")).toBe(true);
      } finally {
        agentDown.stop();
      }
    },
  );
});
