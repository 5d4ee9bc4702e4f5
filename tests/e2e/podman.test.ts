/**
 * A real reader of what install.sh writes: podman (containers/common pkg/hooks, as
 * in CRI-O) loads the hooks.d entries, one per stage, and runs the installed hook,
 * which registers a busybox container with a running agent at createRuntime and
 * unregisters it at poststop; broken entries are caught by
 * `install.sh --check` before podman refuses or silently skips them.
 */
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AgentProcess, ROOT, makeRootfs, removeDir, run, tempDir, waitFor, type Ran } from "./support.ts";

setDefaultTimeout(90_000);
const INSTALL = join(ROOT, "install.sh");
const STAGES = ["createRuntime", "poststop"];
/** The hooks.d file install.sh writes for `stage`. */
const entryFile = (hooksDir: string, stage: string): string => join(hooksDir, `10-armor-hooks-${stage}.json`);

let dir: string;
let agent: AgentProcess | undefined;

beforeEach(() => {
  dir = tempDir("podman");
});
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  // Containers run with --rm; remove any left by a failed test before the storage goes.
  await podman(join(dir, "hooks.d"), ["rm", "--all", "--force"]);
  removeDir(dir);
});

/** podman with all its state in the test directory: runc (crun refuses this host's cgroup layout), cgroupfs, no network. */
function podman(hooksDir: string, args: string[]): Promise<Ran> {
  const global = ["--root", join(dir, "storage"), "--runroot", join(dir, "runroot"), "--tmpdir", join(dir, "tmp"), "--cgroup-manager", "cgroupfs"];
  return run(["podman", ...global, "--runtime", "runc", "--events-backend", "none", "--hooks-dir", hooksDir, ...args]);
}

/** `podman run --rm` of a busybox rootfs (no image pull). */
function runContainer(hooksDir: string, name: string, script: string): Promise<Ran> {
  const limits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];
  return podman(hooksDir, ["run", "--rm", ...limits, "--net", "none", "--name", name, "--rootfs", join(dir, "rootfs"), "sh", "-c", script]);
}

/** install.sh onto this host with every path inside the test directory. */
async function installHere(): Promise<{ hooksDir: string; socket: string }> {
  const hooksDir = join(dir, "hooks.d");
  const socket = join(dir, "run/armor.sock");
  const ran = await run(["sh", INSTALL, "--prefix", join(dir, "lib"), "--hooks-dir", hooksDir, "--socket", socket, "--runtimes", "podman", "--no-systemd"]);
  expect(ran.stderr).toBe("");
  expect(ran.code).toBe(0);
  makeRootfs(dir);
  return { hooksDir, socket };
}

describe("podman with the hooks.d entries install.sh wrote", () => {
  test("the installed hook registers the container at createRuntime and unregisters it at poststop", async () => {
    const { hooksDir, socket } = await installHere();
    // Each entry names its stage in the hook's args: the hook knows it before reading stdin.
    for (const stage of STAGES) {
      const entry = JSON.parse(readFileSync(entryFile(hooksDir, stage), "utf8"));
      expect([entry.hook.args.slice(0, 2), entry.stages]).toEqual([["armor-hook", stage], [stage]]);
    }
    agent = await AgentProcess.start(socket);
    const name = `armor-podman-${process.pid}`;
    const running = runContainer(hooksDir, name, "echo started; sleep 3");

    await waitFor("the container in the agent", async () => (await agent!.list()).length === 1, 30_000);
    const inspect = await podman(hooksDir, ["inspect", "--format", "{{.Id}} {{.State.Pid}}", name]);
    expect(inspect.code).toBe(0);
    const [id, pid] = inspect.stdout.trim().split(" ");
    const [held] = await agent.list();
    expect(held).toMatchObject({ id, pid: Number(pid), source: "hook" });

    const ran = await running;
    expect(ran.stderr).toBe("");
    expect(ran.stdout).toBe("started\n");
    expect(ran.code).toBe(0);
    await waitFor("poststop to unregister the container", async () => (await agent!.list()).length === 0);
  });

  test("a bad version stops podman from creating any container; install.sh --check names it first", async () => {
    const { hooksDir } = await installHere();
    const entry = JSON.parse(readFileSync(entryFile(hooksDir, "createRuntime"), "utf8"));
    writeFileSync(join(hooksDir, "20-bad-version.json"), JSON.stringify({ ...entry, version: "1.1.0" }));

    const check = await run(["sh", INSTALL, "--check", "--hooks-dir", hooksDir, "--prefix", join(dir, "lib")]);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(`${hooksDir}/20-bad-version.json: version is "1.1.0", not "1.0.0"`);
    for (const stage of STAGES) expect(check.stdout).toContain(`${entryFile(hooksDir, stage)}: ok`);

    const ran = await runContainer(hooksDir, `armor-bad-${process.pid}`, "true");
    expect(ran.code).not.toBe(0);
    expect(ran.stderr).toContain('unrecognized hook version: "1.1.0"');
  });

  test("a missing binary makes podman skip the hook silently; install.sh --check names it", async () => {
    const { hooksDir, socket } = await installHere();
    agent = await AgentProcess.start(socket);
    const skipped = join(dir, "skipped.d");
    mkdirSync(skipped);
    for (const stage of STAGES) {
      const entry = JSON.parse(readFileSync(entryFile(hooksDir, stage), "utf8"));
      writeFileSync(entryFile(skipped, stage), JSON.stringify({ ...entry, hook: { ...entry.hook, path: join(dir, "lib/gone") } }));
    }

    const check = await run(["sh", INSTALL, "--check", "--hooks-dir", skipped, "--prefix", join(dir, "lib")]);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(`hook.path ${join(dir, "lib/gone")} does not exist: CRI-O, podman and the NRI hook-injector silently skip this hook`);

    const ran = await runContainer(skipped, `armor-skip-${process.pid}`, "echo unmonitored");
    expect(ran.code).toBe(0);
    expect(ran.stdout).toBe("unmonitored\n");
    expect(agent.log).not.toContain('"registered"');
  });
});
