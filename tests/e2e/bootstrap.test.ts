/**
 * Containers that existed before the agent, with real runc: the agent started in
 * a runc container through the hook, whose detached fork sends them all while
 * containers keep coming and going; the host agent's --reconcile restart; the
 * empty node; a batch that never comes or dies half-way; crun's state root.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { lockHeld } from "../../lib/syscall.ts";
import { encodeFrame } from "../../lib/wire/frame.ts";
import { containerTestLifecycle } from "./reaper.ts";
import {
  AGENT,
  AgentProcess,
  crunRuntime,
  HOOK,
  hookEntry,
  listIds,
  makeBundle,
  run,
  runcRuntime,
  runDetached,
  sharedLibraryMounts,
  stopContainer,
  waitFor,
  type Runtime,
} from "./support.ts";

const { dir: workDir, defer } = containerTestLifecycle("e2e-bootstrap", { beforeAll, afterEach, afterAll });

interface Status {
  state: string;
  containers: number;
  bootstrap: { completedBy: string | null; containers: number; warning: string | null; durationMs: number | null };
}

async function status(socket: string): Promise<Status> {
  const ran = await run([AGENT, "status", "--json", "--socket", socket]);
  if (ran.code !== 0) throw new Error(`status failed: ${ran.stderr}`);
  return JSON.parse(ran.stdout) as Status;
}

async function heldIds(socket: string): Promise<string[]> {
  const ran = await run([AGENT, "list", "--json", "--socket", socket]);
  if (ran.code !== 0) throw new Error(`list failed: ${ran.stderr}`);
  return (JSON.parse(ran.stdout) as Array<{ id: string }>).map((c) => c.id).sort();
}

/** A node: its own runc state root, socket directory and one shared workload bundle with the hook installed. */
async function makeNode(name: string, runtime: (root: string) => Runtime = runcRuntime) {
  const dir = join(workDir(), name);
  const root = join(dir, "state");
  const socket = join(dir, "run", "armor.sock");
  const rt = runtime(root);
  const stateRoot = `${rt.name}:${root}`;
  const hooks = {
    createRuntime: [
      {
        ...hookEntry("createRuntime", socket),
        args: [...(hookEntry("createRuntime", socket).args as string[]), "--state-root", stateRoot, "--timeout-ms", "1000", "--agent-outside-kubernetes"],
      },
    ],
    poststop: [hookEntry("poststop", socket)],
  };
  const workload = await makeBundle(join(dir, "workload"), { args: ["sleep", "600"], hooks });
  const started: string[] = [];
  defer(async () => {
    for (const id of await listIds(rt).catch(() => started)) await stopContainer(rt, id).catch(() => undefined);
  });
  return {
    dir,
    root,
    socket,
    runtime: rt,
    stateRoot,
    hooks,
    async start(id: string) {
      started.push(id);
      await runDetached(rt, workload, id);
    },
    stop: (id: string) => stopContainer(rt, id),
    list: () => listIds(rt),
  };
}

describe("the agent started in a runc container through the hook", () => {
  test("its detached fork bootstraps 24 pre-existing containers while others start and stop; the registry ends equal to runc list", async () => {
    const node = await makeNode("in-container");
    const pre = Array.from({ length: 24 }, (_, i) => `pre-${i}`);
    // No agent yet: every hook fails open at once and the containers run unmonitored.
    for (const id of pre) await node.start(id);
    expect(await node.list()).toEqual([...pre].sort());

    const agentBundle = await makeBundle(join(node.dir, "agent"), {
      args: ["/usr/local/bin/armor-agent", "serve", "--socket", "/run/armor/armor.sock", "--bootstrap", "hook", "--bootstrap-wait-ms", "60000"],
      mounts: [
        { source: AGENT, destination: "/usr/local/bin/armor-agent" },
        { source: dirname(node.socket), destination: "/run/armor", readonly: false },
        ...(await sharedLibraryMounts(AGENT)),
      ],
      hooks: node.hooks,
    });
    mkdirSync(dirname(node.socket), { recursive: true, mode: 0o700 });
    const agent = Bun.spawn(node.runtime.runCommand(agentBundle, "armor-agent"), { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    defer(async () => {
      await run(node.runtime.command(["kill", "armor-agent", "TERM"]));
      await agent.exited;
      await run(node.runtime.command(["delete", "--force", "armor-agent"]));
    });

    // Churn while the agent comes up and the batch is in flight: new containers,
    // and pre-existing ones stopped (their poststop must not be undone by the batch).
    const churn = (async () => {
      for (let i = 0; i < 8; i++) {
        await node.start(`live-${i}`);
        await node.stop(`pre-${i}`);
        if (i % 2 === 1) await node.stop(`live-${i - 1}`);
      }
    })();

    await waitFor("the agent to be ready", async () => (await status(node.socket).catch(() => ({ state: "down" }))).state === "ready", 30_000);
    await churn;
    const st = await status(node.socket);
    expect(st.bootstrap.completedBy).toBe("batch");
    expect(st.bootstrap.warning).toBeNull();

    const expected = await node.list();
    expect(expected).toContain("armor-agent");
    expect(expected).toContain("pre-23");
    expect(expected).not.toContain("pre-0");
    expect(await heldIds(node.socket)).toEqual(expected);
    const records = JSON.parse((await run([AGENT, "list", "--json", "--socket", node.socket])).stdout) as Array<{ id: string; source: string }>;
    expect(records.find((r) => r.id === "pre-23")?.source).toBe("bootstrap");
    expect(records.find((r) => r.id === "live-7")?.source).toBe("hook");
    const log = await Bun.file(join(dirname(node.socket), "bootstrap.log")).text();
    expect(log).toContain('"msg":"bootstrap batch sent"');
  }, 120_000);
});

describe("armor-agent serve --reconcile on the host", () => {
  test("a restarted agent (after SIGKILL, with churn while it was down) holds exactly what runc lists", async () => {
    const node = await makeNode("reconcile");
    for (let i = 0; i < 6; i++) await node.start(`r-${i}`);
    const first = await AgentProcess.start(node.socket, ["--reconcile", "--state-root", node.stateRoot]);
    defer(() => first.stop());
    await waitFor("ready", async () => (await status(node.socket)).state === "ready");
    expect(await heldIds(node.socket)).toEqual(await node.list());

    first.proc.kill("SIGKILL");
    await first.proc.exited;
    await node.stop("r-0");
    await node.stop("r-1");
    await node.start("r-new");

    const second = await AgentProcess.start(node.socket, ["--reconcile", "--state-root", node.stateRoot]);
    defer(() => second.stop());
    await waitFor("ready", async () => (await status(node.socket)).state === "ready");
    const st = await status(node.socket);
    expect(st.bootstrap).toMatchObject({ completedBy: "reconcile", containers: 5, warning: null });
    expect(await heldIds(node.socket)).toEqual(["r-2", "r-3", "r-4", "r-5", "r-new"]);
    expect(await heldIds(node.socket)).toEqual(await node.list());
  }, 60_000);
});

describe("bootstrap edge cases", () => {
  /** Runs the hook as the runtime would for the agent's own container, on a bundle written here. */
  async function agentContainerHook(socket: string, extra: string[]): Promise<number> {
    const bundle = join(workDir(), `agent-bundle-${Date.now()}`);
    mkdirSync(bundle, { recursive: true });
    writeFileSync(join(bundle, "config.json"), JSON.stringify({ process: { args: ["/usr/local/bin/armor-agent", "serve"] } }));
    const state = JSON.stringify({ ociVersion: "1.2.0", id: "armor-agent-x", status: "creating", pid: process.pid, bundle });
    const started = performance.now();
    const ran = await run([HOOK, "createRuntime", "--socket", socket, "--agent-outside-kubernetes", ...extra], { stdin: state });
    expect(ran).toMatchObject({ code: 0, stderr: "" });
    return performance.now() - started;
  }

  test("an empty node ends bootstrapping as soon as the batch (of zero) arrives", async () => {
    const dir = join(workDir(), "empty");
    const socket = join(dir, "run", "armor.sock");
    const agent = await AgentProcess.start(socket, ["--bootstrap", "hook", "--bootstrap-wait-ms", "60000"]);
    defer(() => agent.stop());
    expect((await status(socket)).state).toBe("bootstrapping");
    const hookMs = await agentContainerHook(socket, ["--state-root", `runc:${join(dir, "no-containers")}`]);
    expect(hookMs).toBeLessThan(1000);
    await waitFor("ready", async () => (await status(socket)).state === "ready", 5000);
    expect((await status(socket)).bootstrap).toMatchObject({ completedBy: "batch", containers: 0, warning: null });
    // The hook registered nothing for the agent's own container; its fork did, once the agent answered.
    expect(await heldIds(socket)).toEqual(["armor-agent-x"]);
  });

  test("one bootstrap fork per socket: a second exits at once while the first waits for the agent", async () => {
    const dir = join(workDir(), "lock");
    const socket = join(dir, "run", "armor.sock");
    mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
    const log = join(dirname(socket), "bootstrap.log");
    const fork = (deadlineMs: string) =>
      Bun.spawn([HOOK, "bootstrap", `--socket=${socket}`, `--bootstrap-deadline-ms=${deadlineMs}`, `--state-root=runc:${join(dir, "none")}`], {
        stdio: ["ignore", "ignore", "ignore"],
      });
    const first = fork("3000");
    defer(async () => {
      first.kill();
      await first.exited;
    });
    await waitFor("the first fork to wait for the agent", async () => existsSync(log) && (await Bun.file(log).text()).includes("waiting for the agent"));
    // The hook does not even start a second fork while the first holds the lock.
    expect(lockHeld(join(dirname(socket), "bootstrap.lock"))).toBe(true);
    const second = fork("3000");
    expect(await second.exited).toBe(0);
    expect(first.exitCode).toBeNull();
    expect(await Bun.file(log).text()).toContain("another bootstrap runs for this socket; exiting");
    // Once the first has ended, the next fork takes the lock.
    first.kill();
    await first.exited;
    expect(lockHeld(join(dirname(socket), "bootstrap.lock"))).toBe(false);
    const third = fork("50");
    expect(await third.exited).toBe(7);
  });

  test("no batch within the wait: the agent enumerates runtime state itself", async () => {
    const node = await makeNode("late");
    await node.start("late-1");
    const agent = await AgentProcess.start(node.socket, ["--bootstrap", "hook", "--bootstrap-deadline-ms", "400", "--state-root", node.stateRoot]);
    defer(() => agent.stop());
    await waitFor("ready", async () => (await status(node.socket)).state === "ready", 5000);
    const st = await status(node.socket);
    expect(st.bootstrap.completedBy).toBe("reconcile");
    expect(st.bootstrap.warning).toContain("no bootstrap batch arrived within 400 ms");
    expect(await heldIds(node.socket)).toEqual(["late-1"]);
  });

  test("no batch and no readable runtime state: never ready, status --ready fails and says why", async () => {
    const socket = join(workDir(), "blind", "run", "armor.sock");
    const agent = await AgentProcess.start(socket, ["--bootstrap", "hook", "--bootstrap-deadline-ms", "300", "--state-root", "runc:/nonexistent/armor-test"]);
    defer(() => agent.stop());
    await waitFor("the agent's own enumeration", async () => (await status(socket)).bootstrap.warning !== null, 5000);
    const st = await status(socket);
    expect(st.state).toBe("bootstrapping");
    expect(st.bootstrap.completedBy).toBeNull();
    expect(st.bootstrap.warning).toContain("no runtime state root is readable here (/nonexistent/armor-test): not ready until runtime state is read");
    expect((await agent.cli(["status", "--ready"])).code).not.toBe(0);
    expect(agent.log).toContain("not ready until runtime state is read");
  });

  test("--reconcile on a host where no state root exists yet (no container ever ran): ready with none", async () => {
    const socket = join(workDir(), "fresh", "run", "armor.sock");
    const agent = await AgentProcess.start(socket, ["--reconcile", "--settle-ms", "0", "--state-root", "runc:/nonexistent/armor-fresh"]);
    defer(() => agent.stop());
    await waitFor("ready", async () => (await status(socket)).state === "ready", 5000);
    expect((await status(socket)).bootstrap).toMatchObject({ completedBy: "reconcile", containers: 0, warning: null });
  });

  test("a batch whose connection dies half-way: the agent falls back to its own enumeration", async () => {
    const node = await makeNode("dead-batch");
    await node.start("d-1");
    await node.start("d-2");
    const agent = await AgentProcess.start(node.socket, ["--bootstrap", "hook", "--bootstrap-wait-ms", "60000", "--state-root", node.stateRoot]);
    defer(() => agent.stop());
    const answers: string[] = [];
    const batch = await Bun.connect({ unix: node.socket, socket: { data: (_s, chunk) => void answers.push(Buffer.from(chunk).toString()) } });
    batch.write(encodeFrame({ v: 1, id: 1, op: "bootstrap-begin" }));
    await waitFor("the begin answer", () => answers.join("").includes('"id":1'));
    batch.end();
    await waitFor("ready", async () => (await status(node.socket)).state === "ready", 5000);
    const st = await status(node.socket);
    expect(st.bootstrap.completedBy).toBe("reconcile");
    expect(st.bootstrap.warning).toContain("bootstrap batch connection closed after 0 containers, before its end");
    expect(await heldIds(node.socket)).toEqual(["d-1", "d-2"]);
  });

  test("crun's state root: the fork reads crun's status files", async () => {
    const node = await makeNode("crun", crunRuntime);
    await node.start("c-1");
    await node.start("c-2");
    const agent = await AgentProcess.start(node.socket, ["--bootstrap", "hook", "--bootstrap-wait-ms", "60000"]);
    defer(() => agent.stop());
    await agentContainerHook(node.socket, ["--state-root", node.stateRoot]);
    await waitFor("ready", async () => (await status(node.socket)).state === "ready", 10_000);
    expect((await status(node.socket)).bootstrap).toMatchObject({ completedBy: "batch", containers: 2 });
    const records = JSON.parse((await run([AGENT, "list", "--json", "--socket", node.socket])).stdout) as Array<{ id: string; pid: number; source: string }>;
    // And the agent's own container, which the fork registered as the hook described it.
    expect(records.map((r) => r.id).sort()).toEqual(["armor-agent-x", "c-1", "c-2"]);
    expect(records.find((r) => r.id === "armor-agent-x")).toMatchObject({ pid: process.pid, source: "hook" });
    for (const record of records.filter((r) => r.id !== "armor-agent-x")) {
      const state = JSON.parse((await run(node.runtime.command(["state", record.id]))).stdout) as { pid: number };
      expect(record).toMatchObject({ pid: state.pid, source: "bootstrap" });
    }
  });
});
