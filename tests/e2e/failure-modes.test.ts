/**
 * Failure modes with real runc and the compiled binaries: the agent down under
 * fail-open and fail-closed, the spool replayed when it comes back, `kill -9` of
 * the agent in the middle of a burst of container creations and stops, and a hook
 * that leaves no process behind whatever the agent does.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { containerTestLifecycle } from "./reaper.ts";
import { AgentProcess, HOOK, hookEntry, listIds, makeBundle, run, runcRuntime, runDetached, stopContainer, waitFor } from "./support.ts";

const { dir: workDir, defer } = containerTestLifecycle("e2e-failure", { beforeAll, afterEach, afterAll });

/** A node: a runc state root, a socket directory, and bundles whose hooks carry `extra` flags. */
function makeNode(name: string) {
  const dir = join(workDir(), name);
  const rt = runcRuntime(join(dir, "state"));
  const socket = join(dir, "run", "armor.sock");
  const started: string[] = [];
  defer(async () => {
    for (const id of await listIds(rt).catch(() => started)) await stopContainer(rt, id).catch(() => {});
  });
  const bundle = async (label: string, extra: string[], annotations: Record<string, string> = {}): Promise<string> => {
    const create = hookEntry("createRuntime", socket);
    const poststop = hookEntry("poststop", socket);
    const hooks = {
      createRuntime: [{ ...create, args: [...(create.args as string[]), ...extra] }],
      poststop: [{ ...poststop, args: [...(poststop.args as string[]), ...extra] }],
    };
    return makeBundle(join(dir, `bundle-${label}`), { args: ["sleep", "600"], hooks, annotations });
  };
  const start = async (bundlePath: string, id: string): Promise<void> => {
    started.push(id);
    await runDetached(rt, bundlePath, id);
  };
  const agent = async (extra: string[] = []): Promise<AgentProcess> => {
    const agentProcess = await AgentProcess.start(socket, ["--reconcile", "--state-root", `runc:${join(dir, "state")}`, ...extra]);
    defer(async () => {
      if (agentProcess.proc.exitCode === null) agentProcess.proc.kill("SIGKILL");
      await agentProcess.proc.exited;
    });
    return agentProcess;
  };
  /** A bundle whose hooks get exactly `args` (no stage: the state's status decides). */
  const bundleWithArgs = async (label: string, args: string[], annotations: Record<string, string> = {}): Promise<string> => {
    const entry = { ...hookEntry("createRuntime", socket), args: ["armor-hook", ...args] };
    return makeBundle(join(dir, `bundle-${label}`), { args: ["sleep", "600"], hooks: { createRuntime: [entry], poststop: [entry] }, annotations });
  };
  /** Runs a container that the hook is expected to refuse; its runc result. */
  const refuse = (bundlePath: string, id: string) => {
    started.push(id);
    return run(rt.runCommand(bundlePath, id).toSpliced(-3, 0, "--detach"));
  };
  return { dir, rt, socket, spool: join(dir, "run", "spool"), bundle, bundleWithArgs, start, refuse, agent };
}

/** The records of the hook's log file. */
function readHookLog(path: string): Array<Record<string, unknown>> {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const ids = async (agent: AgentProcess): Promise<string[]> => (await agent.list()).map((c) => String(c.id)).sort();
const pod = (namespace: string) => ({ "io.kubernetes.pod.name": "web-0", "io.kubernetes.pod.namespace": namespace });

describe("the agent is down", () => {
  test("fail-open starts containers, fail-closed refuses those outside the allow-list, and the spool is replayed on the agent's start", async () => {
    const node = makeNode("down");
    // The agent ran once on this node (so its spool directory exists), then stopped.
    const first = await node.agent();
    expect(await first.stop()).toBe(0);
    expect(existsSync(node.socket)).toBe(false);

    const open = await node.bundle("open", [], pod("shop"));
    const closed = await node.bundle("closed", ["--fail-policy", "closed"], pod("shop"));
    const allowed = await node.bundle("allowed", ["--fail-policy", "closed"], pod("kube-system"));
    await node.start(open, "open-1");
    await node.start(allowed, "allowed-1");
    await node.start(open, "gone-1");
    await stopContainer(node.rt, "gone-1");
    const refused = await run(node.rt.runCommand(closed, "closed-1").toSpliced(-3, 0, "--detach")).catch((err: unknown) => ({
      code: -1,
      stdout: "",
      stderr: String(err),
    }));
    expect(refused.code).not.toBe(0);
    // runc quotes the hook's stderr line inside its own error message.
    expect(refused.stderr).toContain("armor-hook: E_AGENT_UNREACHABLE: cannot reach agent at");
    expect(refused.stderr).toMatch(/refusing the container \(fail-closed: namespace \\?"shop\\?" is not on the allow-list\)/);
    expect(await listIds(node.rt)).toEqual(["allowed-1", "open-1"]);
    // Three adds and two removes wait in the spool, in order: runc runs the poststop hook of
    // the container it destroyed after the refusal too.
    expect(readdirSync(node.spool).filter((n) => n.endsWith(".json"))).toHaveLength(5);
    // The hook's own log tells the operator what became of each container, and where its event went.
    const hookLog = readHookLog(join(node.dir, "run", "hook.log"));
    const of = (id: string) => hookLog.filter((r) => r.container === id).map((r) => `${r.stage} ${r.result} ${r.status} ${r.code ?? ""}`);
    expect(of("closed-1")).toEqual(["createRuntime refused 7 E_AGENT_UNREACHABLE", "poststop unconfirmed 0 E_AGENT_UNREACHABLE"]);
    expect(of("open-1")).toEqual(["createRuntime unconfirmed 0 E_AGENT_UNREACHABLE"]);
    expect(of("gone-1")).toEqual(["createRuntime unconfirmed 0 E_AGENT_UNREACHABLE", "poststop unconfirmed 0 E_AGENT_UNREACHABLE"]);
    const refusal = hookLog.find((r) => r.container === "closed-1" && r.result === "refused");
    expect(refusal).toMatchObject({ level: "error", pod: "shop/web-0", phase: "asking the agent" });
    expect(String(refusal?.message)).toContain("refusing the container (fail-closed");
    expect(hookLog.filter((r) => r.result === "unconfirmed").every((r) => String(r.spool).startsWith(`${node.spool}/`))).toBe(true);
    expect(hookLog.every((r) => typeof r.ms === "number" && r.ms > 0)).toBe(true);

    const agent = await node.agent(["--bootstrap", "none"]);
    expect(await ids(agent)).toEqual(["allowed-1", "open-1"]);
    expect((await agent.list()).every((c) => c.source === "hook")).toBe(true);
    expect(readdirSync(node.spool)).toEqual([]);
    expect(agent.log).toContain('"msg":"spooled unregister removed"');
    // `armor-agent hook-log` shows the operator the same story, for one container.
    const shown = await agent.cli(["hook-log", "closed-1"]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("refused");
    expect(shown.stdout).toContain("E_AGENT_UNREACHABLE");
  }, 120_000);

  test("fail-closed starts containers on a node where the agent never started (no spool directory)", async () => {
    const node = makeNode("never");
    const closed = await node.bundle("closed", ["--fail-policy", "closed"], pod("shop"));
    await node.start(closed, "never-1");
    expect(await listIds(node.rt)).toEqual(["never-1"]);
    expect(existsSync(node.spool)).toBe(false);
    // The hook made the directory for its log; that is no sign the agent ever ran.
    expect(readHookLog(join(node.dir, "run", "hook.log"))).toMatchObject([{ container: "never-1", result: "unconfirmed", level: "warn" }]);
  }, 60_000);
});

describe("a pod author's annotation under the other runtime's key", () => {
  // containerd writes io.kubernetes.cri.sandbox-namespace itself and passes pod annotations
  // through (`pod_annotations`); CRI-O's io.kubernetes.pod.namespace is then the pod author's.
  const spoofed = (claimed: string, extra: Record<string, string> = {}) => ({
    "io.kubernetes.cri.sandbox-name": "web-0",
    "io.kubernetes.cri.sandbox-namespace": "shop",
    "io.kubernetes.pod.name": "web-0",
    "io.kubernetes.pod.namespace": claimed,
    ...extra,
  });

  test("names no allowed namespace and makes no agent: fail-closed refuses it, and once the agent is up it is registered", async () => {
    const node = makeNode("spoofed");
    expect(await (await node.agent()).stop()).toBe(0);
    const allowList = await node.bundle("allow", ["--fail-policy", "closed"], spoofed("kube-system"));
    const lookAlike = await node.bundle("agent", ["--fail-policy", "closed"], spoofed("armor-system", { "io.kubernetes.cri.container-name": "armor-agent" }));
    for (const [bundlePath, id] of [
      [allowList, "spoof-allow"],
      [lookAlike, "spoof-agent"],
    ] as const) {
      const refused = await node.refuse(bundlePath, id);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain("armor-hook: E_AGENT_UNREACHABLE");
      expect(refused.stderr).toContain("refusing the container (fail-closed");
    }
    expect(await listIds(node.rt)).toEqual([]);
    // No bootstrap fork was started for the look-alike: it wrote no bootstrap log.
    expect(existsSync(join(node.dir, "run", "bootstrap.log"))).toBe(false);

    const agent = await node.agent(["--bootstrap", "none"]);
    await node.start(lookAlike, "spoof-agent-up");
    const held = (await agent.list()).find((c) => c.id === "spoof-agent-up");
    expect(held).toMatchObject({ source: "hook", pod: null });
  }, 120_000);
});

describe("a flag written where a value belongs", () => {
  test("never turns fail-closed into fail-open, and never moves the log into the bundle", async () => {
    const node = makeNode("misparse");
    const first = await node.agent();
    expect(await first.stop()).toBe(0);

    // Meant "allow none, fail closed": the allow-list's value is missing. The hook refuses to guess.
    const noValue = await node.bundleWithArgs("no-value", ["--socket", node.socket, "--fail-allow-namespaces", "--fail-policy=closed"], pod("kube-system"));
    const refused = await node.refuse(noValue, "no-value-1");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("armor-hook: E_USAGE: --fail-allow-namespaces needs a value");
    // Written as meant, "allow none, fail closed" refuses even kube-system while the agent is down.
    const none = await node.bundleWithArgs("none", ["--socket", node.socket, "--fail-allow-namespaces=", "--fail-policy=closed"], pod("kube-system"));
    const refusedNone = await node.refuse(none, "none-1");
    expect(refusedNone.code).not.toBe(0);
    expect(refusedNone.stderr).toMatch(/refusing the container \(fail-closed: namespace \\?"kube-system\\?" is not on the allow-list\)/);

    // A socket without its value: --log-file is not the socket, and the log goes where it says.
    const log = join(node.dir, "x.log");
    const noSocket = await node.bundleWithArgs("no-socket", ["--fail-policy=closed", "--socket", "--log-file", log]);
    const refusedSocket = await node.refuse(noSocket, "no-socket-1");
    expect(refusedSocket.code).not.toBe(0);
    expect(refusedSocket.stderr).toContain("armor-hook: E_USAGE: --socket needs a value");
    // One line per hook run (runc also runs the poststop hooks of the container it destroys).
    const lines = readHookLog(log);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((r) => r.result === "failed" && r.status === 2 && r.code === "E_USAGE")).toBe(true);
    expect(readdirSync(join(node.dir, "bundle-no-socket"))).not.toContain("hook.log");

    expect(await listIds(node.rt)).toEqual([]);
  }, 60_000);
});

describe("kill -9 of the agent", () => {
  test("in the middle of a burst of 50 container creations and stops: the restarted agent's registry equals runc list", async () => {
    const node = makeNode("burst");
    let agent = await node.agent();
    const bundle = await node.bundle("burst", []);
    const total = 50;
    let done = 0;
    const work = async (i: number): Promise<void> => {
      const id = `burst-${String(i).padStart(2, "0")}`;
      await node.start(bundle, id);
      if (i % 3 === 0) await stopContainer(node.rt, id);
      done += 1;
    };
    // Four at a time; the agent dies when a third of the burst is through, and comes back a moment later.
    const queue = Array.from({ length: total }, (_, i) => i);
    const workers = Array.from({ length: 4 }, async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) await work(i);
    });
    // Should the test fail or time out, the workers stop taking containers and finish
    // before the node's containers are stopped (cleanups run last-registered first).
    defer(async () => {
      queue.length = 0;
      await Promise.allSettled(workers);
    });
    await waitFor("a third of the burst", () => done >= total / 3, 60_000);
    agent.proc.kill("SIGKILL");
    await agent.proc.exited;
    await waitFor("more of the burst while the agent is down", () => done >= total / 2, 60_000);
    agent = await node.agent();
    await Promise.all(workers);
    const running = await listIds(node.rt);
    expect(running).toHaveLength(total - Math.ceil(total / 3));
    // Events spooled while the new agent was starting are swept within a second or so.
    await waitFor("the registry to equal runc list", async () => JSON.stringify(await ids(agent)) === JSON.stringify(running), 15_000).catch(() => {});
    expect(await ids(agent)).toEqual(running);
  }, 180_000);

  test("a container the dead agent held, whose state runc writes only after the new agent's reconcile: the settle pass adds it", async () => {
    const node = makeNode("settle");
    const first = await node.agent();
    // armor-hook, then another createRuntime hook that takes 1.5 s: runc writes state.json only after both.
    const slow = { path: "/bin/sh", args: ["sh", "-c", "cat >/dev/null; sleep 1.5"], env: ["PATH=/usr/bin:/bin"], timeout: 10 };
    const bundle = await makeBundle(join(node.dir, "bundle-slow"), {
      args: ["sleep", "600"],
      hooks: { createRuntime: [hookEntry("createRuntime", node.socket), slow], poststop: [hookEntry("poststop", node.socket)] },
    });
    const starting = node.start(bundle, "settle-1");
    await waitFor("the first agent to hold settle-1", async () => (await ids(first)).includes("settle-1"), 10_000);
    first.proc.kill("SIGKILL");
    await first.proc.exited;
    // Not in the spool (the first agent answered), not in runc's state yet: the reconcile cannot see it.
    const second = await node.agent(["--bootstrap-settle-ms", "3000"]);
    expect(await ids(second)).toEqual([]);
    await starting;
    expect(await listIds(node.rt)).toEqual(["settle-1"]);
    await waitFor("the settle pass to add settle-1", async () => (await ids(second)).includes("settle-1"), 10_000);
    expect((await second.list())[0]).toMatchObject({ id: "settle-1", source: "bootstrap" });
    expect(second.log).toContain("the settle pass found running containers the agent did not hold");
  }, 60_000);
});

describe("the hook's own processes", () => {
  test("an agent that never answers: the hook exits within --timeout-ms and leaves no process behind", async () => {
    const node = makeNode("silent");
    mkdirSync(join(node.dir, "run", "spool"), { recursive: true, mode: 0o700 });
    const silent = Bun.listen({ unix: node.socket, socket: { data() {} } });
    defer(() => silent.stop(true));
    const bundle = await node.bundle("silent", ["--timeout-ms", "400", "--fail-policy", "closed"], pod("kube-system"));
    await node.start(bundle, "silent-1");
    expect(await listIds(node.rt)).toEqual(["silent-1"]);
    // Any process the hook left would be ours now (subreaper); none runs the hook binary.
    const hooks = readdirSync("/proc").filter(
      (pid) =>
        /^\d+$/.test(pid) &&
        (() => {
          try {
            return readlinkSync(`/proc/${pid}/exe`) === HOOK;
          } catch {
            return false;
          }
        })(),
    );
    expect(hooks).toEqual([]);
  }, 60_000);
});
