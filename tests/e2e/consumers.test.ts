/**
 * Consumers get the guarantee, proved with real runc containers and the compiled binaries:
 * a CLI gate sees a container before its process starts, and can refuse it; a hanging gate
 * under --gate-policy open never holds a container past the hook's deadline; a consumer
 * killed mid-churn and resumed with --since rebuilds exactly the agent's set; the cgroup id is
 * the cgroup2 directory's inode; lookup --pid finds a `runc exec` process's container; a
 * container killed and never deleted leaves the registry by the sweep.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Subprocess } from "bun";
import { containerTestLifecycle, reapOrphans } from "./reaper.ts";
import {
  AGENT,
  AgentProcess,
  containerPid,
  hookEntry,
  listIds,
  makeBundle,
  readUntil,
  removeDir,
  run,
  runcRuntime,
  runDetached,
  sharedLibraryMounts,
  stopContainer,
  tempDir,
  waitFor,
  type Runtime,
} from "./support.ts";

const life = containerTestLifecycle("e2e-consumers", { beforeAll, afterEach, afterAll });
let agent: AgentProcess;
let runtime: Runtime;
let seq = 0;

/** The agent lives outside the file's dir: the cleanup after each test kills what names that dir. */
let agentDir: string;

beforeAll(async () => {
  runtime = runcRuntime(join(life.dir(), "runc"));
  agentDir = tempDir("e2e-consumers-agent");
  agent = await AgentProcess.start(join(agentDir, "run", "armor.sock"), ["--gate-policy", "open", "--sweep-interval-ms", "1000"]);
});

afterAll(async () => {
  await agent?.stop();
  removeDir(agentDir);
});

const newId = (what: string): string => `armor-${what}-${process.pid}-${++seq}`;

/** A bundle whose hooks register with the test's agent. */
async function bundle(id: string, args: string[], extra: { mounts?: Array<{ source: string; destination: string; readonly?: boolean }>; env?: string[] } = {}) {
  const dir = join(life.dir(), id);
  mkdirSync(dir, { recursive: true });
  return makeBundle(dir, {
    args,
    env: [`ARMOR_ID=${id}`, ...(extra.env ?? [])],
    ...(extra.mounts ? { mounts: extra.mounts } : {}),
    hooks: { createRuntime: [hookEntry("createRuntime", agent.socket)], poststop: [hookEntry("poststop", agent.socket)] },
  });
}

/** Starts `armor-agent watch --gate NAME --exec CMD` and waits until the agent lists the gate as connected. */
async function startGate(name: string, exec: string, extra: string[] = []): Promise<Subprocess<"ignore", "pipe", "pipe">> {
  const gate = Bun.spawn([AGENT, "watch", "--gate", name, "--exec", exec, "--socket", agent.socket, ...extra], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  life.defer(async () => {
    gate.kill("SIGKILL");
    await gate.exited;
  });
  await waitFor(`gate ${name} to connect`, async () => {
    const status = JSON.parse((await agent.cli(["status", "--json"])).stdout) as { gates?: { gates: Array<{ name: string; connected: boolean }> } };
    return status.gates?.gates.some((g) => g.name === name && g.connected) ?? false;
  });
  return gate;
}

/** The hook's log lines about `id`. */
function hookLogOf(id: string): Array<Record<string, unknown>> {
  let text = "";
  try {
    text = readFileSync(join(dirname(agent.socket), "hook.log"), "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((line) => line.includes(`"${id}"`))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("gates", () => {
  test("(a) a CLI gate's command sees the container before its process starts: the file it writes is there for the first command", async () => {
    const seen = join(life.dir(), "seen");
    mkdirSync(seen);
    await startGate("recorder", `cat > ${seen}/"$ARMOR_CONTAINER_ID"`, ["--gate-timeout-ms", "1500"]);
    const id = newId("gated");
    const dir = await bundle(id, ["sh", "-c", 'test -s "/seen/$ARMOR_ID" || exit 42; echo SEEN-BEFORE-START; exec sleep 600'], {
      mounts: [{ source: seen, destination: "/seen", readonly: true }],
    });
    const container = Bun.spawn(runtime.runCommand(dir, id), { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    life.defer(async () => {
      await run(runtime.command(["delete", "--force", id]));
      await container.exited;
    });
    const out = await readUntil(container.stdout, "SEEN-BEFORE-START");
    if (!out.includes("SEEN-BEFORE-START")) throw new Error(`exit ${await container.exited}: ${out} ${await new Response(container.stderr).text()}`);
    // The gate had the whole record on its stdin.
    expect(JSON.parse(readFileSync(join(seen, id), "utf8"))).toMatchObject({ id, pid: await containerPid(runtime, id), source: "hook" });
    const status = JSON.parse((await agent.cli(["status", "--json"])).stdout) as { gates: { gates: Array<Record<string, unknown>> } };
    expect(status.gates.gates.find((g) => g.name === "recorder")).toMatchObject({ connected: true, nacks: 0, timeouts: 0 });
  });

  test("(b) a gate that nacks refuses the container: runc run fails with the gate's reason and the agent does not hold it", async () => {
    await startGate("refuser", 'echo "unsigned image for $ARMOR_CONTAINER_ID" >&2; exit 1');
    const id = newId("refused");
    const dir = await bundle(id, ["sh", "-c", "echo STARTED; exec sleep 600"]);
    const ran = await run(runtime.runCommand(dir, id));
    await run(runtime.command(["delete", "--force", id]));
    expect(ran.code).not.toBe(0);
    expect(ran.stdout).not.toContain("STARTED");
    expect(ran.stderr).toContain(`refused container ${id}: unsigned image for ${id}`);
    expect((await agent.list()).some((c) => c.id === id)).toBe(false);
    expect(await listIds(runtime)).not.toContain(id);
    await waitFor("the refusal in the hook's log", () => hookLogOf(id).some((r) => r.stage === "createRuntime"));
    expect(hookLogOf(id).find((r) => r.stage === "createRuntime")).toMatchObject({ result: "failed", status: 6, code: "E_AGENT_REJECTED" });
  });

  test("(c) a gate that hangs, under --gate-policy open: the container starts within the hook's deadline, and the hook's log says so", async () => {
    // A FIFO nobody writes: the command blocks on its open (its argument names the test's dir, so the file's cleanup ends it).
    const fifo = join(life.dir(), "never");
    expect((await run(["mkfifo", fifo])).code).toBe(0);
    await startGate("hanger", `exec cat ${fifo}`, ["--gate-timeout-ms", "60000"]);
    const id = newId("hung");
    const dir = await bundle(id, ["sh", "-c", "echo STARTED; exec sleep 600"]);
    const container = Bun.spawn(runtime.runCommand(dir, id), { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    life.defer(async () => {
      await run(runtime.command(["delete", "--force", id]));
      await container.exited;
    });
    const out = await readUntil(container.stdout, "STARTED");
    if (!out.includes("STARTED")) throw new Error(`exit ${await container.exited}: ${await new Response(container.stderr).text()}`);
    await waitFor("the hook's line", () => hookLogOf(id).length > 0);
    const line = hookLogOf(id)[0] ?? {};
    expect(line).toMatchObject({ result: "registered", status: 0, level: "warn" });
    expect(String(line.warning)).toContain(`gate "hanger" did not decide on container ${id} within the hook's deadline`);
    // The hook measured itself: it answered the runtime inside its --timeout-ms (2,000 ms, hookEntry's).
    expect(Number(line.ms)).toBeLessThan(2000);
    const metrics = (await agent.cli(["status", "--json"])).stdout;
    expect(JSON.parse(metrics).gates.unconfirmed).toBeGreaterThanOrEqual(1);
  });
});

describe("a resumable watch", () => {
  test("(d) a consumer killed during a churn of 50 containers and resumed with --since rebuilds exactly the agent's final set, no change missing or doubled", async () => {
    const first = join(life.dir(), "watch-1.jsonl");
    const second = join(life.dir(), "watch-2.jsonl");
    const watch = (out: string, extra: string[] = []) => {
      const proc = Bun.spawn([AGENT, "watch", "--json", "--socket", agent.socket, ...extra], { stdin: "ignore", stdout: Bun.file(out), stderr: "pipe" });
      life.defer(async () => {
        proc.kill("SIGKILL");
        await proc.exited;
      });
      return proc;
    };
    const complete = (file: string): Array<Record<string, any>> => {
      const text = readFileSync(file, "utf8");
      return text
        .slice(0, text.lastIndexOf("\n") + 1)
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l));
    };
    const consumer = watch(first);
    await waitFor("the first snapshot", () => complete(first).length > 0);
    const ids: string[] = [];
    const churn = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const id = newId(`churn${i}`);
        ids.push(id);
        await runDetached(runtime, await bundle(id, ["sleep", "600"]), id);
        life.defer(() => run(runtime.command(["delete", "--force", id])));
        // Every third container stops again: removes interleave with adds.
        if (i % 3 === 2) await stopContainer(runtime, ids[i - 1] as string);
      }
    };
    await churn(0, 25);
    consumer.kill("SIGKILL");
    await consumer.exited;
    const seenFirst = complete(first);
    const last = seenFirst[seenFirst.length - 1] as { epoch: string; rev: number };
    await churn(25, 40);
    const resumed = watch(second, ["--since", `${last.epoch}:${last.rev}`]);
    await churn(40, 50);
    const held = new Set((await agent.list()).map((c) => String(c.id)));
    const agentRev = async () => {
      const lines = complete(second);
      return (lines[lines.length - 1]?.rev as number | undefined) ?? -1;
    };
    // The agent's revision now: the consumer must reach it (the sweep removes nothing here: all live or deleted).
    const probe = join(life.dir(), "probe.jsonl");
    const prober = watch(probe);
    await waitFor("the probe's snapshot", () => complete(probe).length > 0);
    const target = complete(probe)[0]?.rev as number;
    prober.kill("SIGKILL");
    await waitFor("the resumed consumer to catch up", async () => (await agentRev()) >= target, 20_000);
    resumed.kill("SIGKILL");

    // Rebuild: the snapshot, then every change of both runs, each revision exactly once and in order.
    const [snapshot, ...changes] = [...seenFirst, ...complete(second)];
    expect(snapshot?.event).toBe("snapshot");
    const mirror = new Set<string>((snapshot?.containers as Array<{ id: string }>).map((c) => c.id));
    let rev = snapshot?.rev as number;
    for (const change of changes) {
      expect(change.event === "snapshot" ? "a second snapshot" : change.rev).toBe(rev + 1);
      rev = change.rev;
      if (change.event === "add") mirror.add(change.container.id);
      else mirror.delete(change.container.id);
    }
    expect(rev).toBe(target);
    expect([...mirror].sort()).toEqual([...held].sort());
    // And that is what runs: the churned containers still alive.
    const running = new Set(await listIds(runtime));
    expect(ids.filter((id) => mirror.has(id)).sort()).toEqual(ids.filter((id) => running.has(id)).sort());
    expect(ids.filter((id) => mirror.has(id))).toHaveLength(50 - 16);
  }, 240_000);
});

describe("cgroup identity and lookups", () => {
  test("(e) cgroup.id is the inode of the container's cgroup2 directory, and lookup --cgroup-id finds it; (f) lookup --pid of a `runc exec` process finds its container", async () => {
    const id = newId("cgroup");
    await runDetached(runtime, await bundle(id, ["sleep", "600"]), id);
    life.defer(async () => {
      // The exec'd process too; its zombie, and the init's, are this process's to reap before runc will delete.
      await run(runtime.command(["kill", "--all", id, "KILL"]));
      await Bun.sleep(100);
      await reapOrphans();
      await run(runtime.command(["delete", "--force", id]));
    });
    const pid = await containerPid(runtime, id);
    const record = (await agent.list()).find((c) => c.id === id) as { cgroup: { path: string; id: number } };
    const line = readFileSync(`/proc/${pid}/cgroup`, "utf8")
      .split("\n")
      .find((l) => l.startsWith("0::"));
    expect(record.cgroup.path).toBe(line?.slice(3) ?? "no 0:: line");
    expect(record.cgroup.id).toBe(statSync(`/sys/fs/cgroup/unified${record.cgroup.path}`).ino);
    const byCgroup = await agent.cli(["lookup", "--cgroup-id", String(record.cgroup.id), "--json"]);
    expect(byCgroup.code).toBe(0);
    expect(JSON.parse(byCgroup.stdout).id).toBe(id);

    const pidFile = join(life.dir(), `${id}.exec.pid`);
    // The exec'd process would hold pipes open: no stdio but a file for errors (as runDetached()).
    const errFile = join(life.dir(), `${id}.exec.err`);
    const exec = Bun.spawn(runtime.command(["exec", "--detach", "--pid-file", pidFile, id, "sleep", "300"]), {
      stdin: "ignore",
      stdout: "ignore",
      stderr: Bun.file(errFile),
    });
    expect(await exec.exited, readFileSync(errFile, "utf8")).toBe(0);
    const execPid = Number(readFileSync(pidFile, "utf8").trim());
    expect(execPid).not.toBe(pid);
    const byPid = await agent.cli(["lookup", "--pid", String(execPid), "--json"]);
    expect(byPid.code).toBe(0);
    expect(JSON.parse(byPid.stdout).id).toBe(id);
    // A host process that is no container's: not found (exit 3).
    expect((await agent.cli(["lookup", "--pid", String(process.pid)])).code).toBe(3);
  });
});

describe("stale records", () => {
  test("(g) a container killed and never deleted leaves list within 10 s, with source sweep; its later delete is harmless", async () => {
    const events = join(life.dir(), "sweep-watch.jsonl");
    const watcher = Bun.spawn([AGENT, "watch", "--json", "--socket", agent.socket], { stdin: "ignore", stdout: Bun.file(events), stderr: "pipe" });
    life.defer(async () => {
      watcher.kill("SIGKILL");
      await watcher.exited;
    });
    const id = newId("stale");
    await runDetached(runtime, await bundle(id, ["sleep", "600"]), id);
    life.defer(() => run(runtime.command(["delete", "--force", id])));
    expect((await agent.list()).some((c) => c.id === id)).toBe(true);
    process.kill(await containerPid(runtime, id), "SIGKILL");
    const killedAt = Date.now();
    await waitFor(`${id} to leave list`, async () => !(await agent.list()).some((c) => c.id === id), 10_000);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    await waitFor("the remove event", () => readFileSync(events, "utf8").includes(`"source":"sweep"`));
    const removed = readFileSync(events, "utf8")
      .split("\n")
      .filter((l) => l.includes(`"source":"sweep"`))
      .map((l) => JSON.parse(l));
    expect(removed).toContainEqual(expect.objectContaining({ event: "remove", source: "sweep", container: expect.objectContaining({ id }) }));
    expect(agent.log).toContain("removed a stale record");
    const status = JSON.parse((await agent.cli(["status", "--json"])).stdout) as { sweep: { swept: number; hostPidNamespace: boolean } };
    expect(status.sweep).toMatchObject({ hostPidNamespace: true });
    expect(status.sweep.swept).toBeGreaterThanOrEqual(1);
    // The runtime's own cleanup runs the poststop later: nothing breaks, nothing comes back.
    await run(runtime.command(["delete", "--force", id]));
    await Bun.sleep(200);
    expect((await agent.list()).some((c) => c.id === id)).toBe(false);
  });

  test("a container whose process moves itself into a new mount namespace (CAP_SYS_ADMIN: a privileged pod) is alive, and stays held", async () => {
    const id = newId("unshared");
    const dir = await bundle(id, ["sh", "-c", "exec unshare -m sleep 600"]);
    const configPath = join(dir, "config.json");
    const config = JSON.parse(readFileSync(configPath, "utf8")) as { process: { capabilities: Record<string, string[]> } };
    for (const set of Object.values(config.process.capabilities)) set.push("CAP_SYS_ADMIN");
    writeFileSync(configPath, JSON.stringify(config));
    symlinkSync("busybox", join(dir, "rootfs", "bin", "unshare"));
    await runDetached(runtime, dir, id);
    life.defer(() => run(runtime.command(["delete", "--force", id])));
    const pid = await containerPid(runtime, id);
    const held = (await agent.list()).find((c) => c.id === id);
    expect(held).toBeDefined();
    // Its process really left the mount namespace it was registered with.
    await waitFor(
      "the process's new mount namespace",
      () => readlinkSync(`/proc/${pid}/ns/mnt`) !== `mnt:[${(held?.namespaces as { mnt?: number } | undefined)?.mnt}]`,
    );
    // Several sweeps later (every 1,000 ms here), the running container is still held, and found by its cgroup.
    await Bun.sleep(3500);
    expect((await agent.list()).some((c) => c.id === id)).toBe(true);
    const cgroupId = (held?.cgroup as { id?: number } | null | undefined)?.id;
    if (cgroupId != null) expect((await agent.cli(["lookup", "--cgroup-id", String(cgroupId), "--json"])).code).toBe(0);
    expect((await agent.list()).some((c) => c.id === id)).toBe(true);
    expect(agent.log).not.toContain(`"removed a stale record: its process is gone and no poststop came","id":"${id}"`);
  });
});
