/**
 * What a local user or a runtime's leftovers can put where the agent reads: FIFOs, links to
 * /dev/zero and directories beside the socket, in a state root and in a bundle. The compiled
 * agent starts, listens, reconciles every healthy container and warns about each bad entry.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spoolFileName } from "../../lib/spool-format.ts";
import { AgentProcess, removeDir, tempDir } from "./support.ts";
import { perTest } from "./per-test.ts";

const { defer } = perTest("e2e-hostile-files");

const mkfifo = (path: string): void => expect(Bun.spawnSync(["mkfifo", path]).exitCode).toBe(0);

/** A process for a state entry to point at, reaped by the test. */
function sleeper(): number {
  const proc = Bun.spawn(["sleep", "60"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  defer(async () => {
    proc.kill();
    await proc.exited;
  });
  return proc.pid;
}

describe("hostile files where the agent reads", () => {
  test("a FIFO in the spool, FIFOs, /dev/zero links and directories in a state root and in bundles cost only themselves", async () => {
    const dir = tempDir("e2e-hostile-files");
    defer(() => removeDir(dir));
    const run = join(dir, "run");
    mkdirSync(join(run, "spool"), { recursive: true, mode: 0o700 });
    const spooledFifo = join(run, "spool", spoolFileName(1_000_000, 1, 1, 10));
    mkfifo(spooledFifo);

    const root = join(dir, "crun");
    /** A crun state entry `id` for a live process, whose bundle's config.json `bundle` makes. */
    const entry = (id: string, bundle: (path: string) => void): void => {
      const bundleDir = join(dir, "bundles", id);
      mkdirSync(bundleDir, { recursive: true });
      bundle(join(bundleDir, "config.json"));
      mkdirSync(join(root, id), { recursive: true });
      writeFileSync(join(root, id, "status"), JSON.stringify({ pid: sleeper(), bundle: bundleDir }));
    };
    const goodConfig = (path: string): void =>
      writeFileSync(
        path,
        JSON.stringify({ process: { args: ["sleep"] }, annotations: { "io.kubernetes.pod.name": "web-0", "io.kubernetes.pod.namespace": "shop" } }),
      );
    entry("healthy", goodConfig);
    entry("config-zero", (path) => symlinkSync("/dev/zero", path));
    entry("config-fifo", mkfifo);
    entry("config-dir", (path) => mkdirSync(path));
    entry("status-fifo", goodConfig);
    removeDir(join(root, "status-fifo", "status"));
    mkfifo(join(root, "status-fifo", "status"));
    entry("status-zero", goodConfig);
    removeDir(join(root, "status-zero", "status"));
    symlinkSync("/dev/zero", join(root, "status-zero", "status"));
    entry("status-dir", goodConfig);
    removeDir(join(root, "status-dir", "status"));
    mkdirSync(join(root, "status-dir", "status"));

    const agent = await AgentProcess.start(join(run, "armor.sock"), ["--reconcile", "--state-root", `crun:${root}`]);
    defer(() => agent.stop());

    const held = new Map((await agent.list()).map((c) => [c.id as string, c]));
    expect([...held.keys()].sort()).toEqual(["config-dir", "config-fifo", "config-zero", "healthy"]);
    expect(held.get("healthy")?.pod).toEqual({ name: "web-0", namespace: "shop", uid: null });
    // A bundle that cannot be read: held without its details rather than missed.
    expect(held.get("config-fifo")?.pod).toBeNull();
    expect(existsSync(spooledFifo)).toBe(false);
    expect(readdirSync(join(run, "spool"))).toEqual([]);
    for (const warning of [
      `${spooledFifo} is a FIFO, not a regular file`,
      `${root}/status-fifo/status is a FIFO, not a regular file`,
      `${root}/status-dir/status is a directory, not a regular file`,
      `${root}/status-zero/status is a symbolic link (never followed here)`,
      `${dir}/bundles/config-zero/config.json: a symbolic link (never followed here)`,
      `${dir}/bundles/config-fifo/config.json: a FIFO, not a regular file`,
      "registering a pre-existing container without its bundle's details",
    ]) {
      expect(agent.log).toContain(warning);
    }
  });

  test("list and get show what a pod author wrote escaped, and an id no record can hold costs only itself: no terminal sequence, no bidi control", async () => {
    const dir = tempDir("e2e-hostile-names");
    defer(() => removeDir(dir));
    const root = join(dir, "crun");
    const bundle = join(dir, "bundle");
    mkdirSync(bundle);
    writeFileSync(
      join(bundle, "config.json"),
      JSON.stringify({
        process: { args: ["sleep"] },
        annotations: {
          "io.kubernetes.pod.name": "web\u001b[2J\u001b[H",
          "io.kubernetes.pod.namespace": "shop\u202e",
          "io.kubernetes.container.name": "nginx\u001b]0;owned\u0007\u2067",
          "io.kubernetes.cri-o.ImageName": "img\u009b31m\nfake line",
        },
      }),
    );
    for (const id of ["web-1", "evil\u202eid"]) {
      mkdirSync(join(root, id), { recursive: true });
      writeFileSync(join(root, id, "status"), JSON.stringify({ pid: sleeper(), bundle }));
    }
    const agent = await AgentProcess.start(join(dir, "run", "armor.sock"), ["--reconcile", "--state-root", `crun:${root}`]);
    defer(() => agent.stop());
    const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
    const list = await agent.cli(["list"]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain("shop\\u202e/web\\u001b[2J\\u001b[H");
    expect(list.stdout).not.toMatch(raw);
    expect(list.stdout.trim().split("\n")).toHaveLength(2);
    // An id no record can carry is skipped with a warning: it never breaks `list` for the others.
    expect(agent.log).toContain("skipping a pre-existing container its record cannot hold");
    const get = await agent.cli(["get", "web-1"]);
    expect(get.code).toBe(0);
    expect(get.stdout).toContain("image:           img\\u009b31m\\nfake line");
    expect(get.stdout).not.toMatch(raw);
    const json = await agent.cli(["list", "--json"]);
    expect(json.stdout).not.toMatch(raw);
    expect(JSON.parse(json.stdout)[0].pod.name).toBe("web\u001b[2J\u001b[H");
  });
});
