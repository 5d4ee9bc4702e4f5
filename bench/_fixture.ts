/**
 * The bench's real surroundings: a temp dir, the empty floor binary, a running
 * armor-agent, a bundle with a config.json, and a live process (in fresh
 * namespaces when unshare allows) whose pid goes into the OCI state.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { HOOK_FLAGS } from "../scripts/build.ts";

/** Everything the bench started; `close()` stops and removes all of it. */
export interface Fixture {
  dir: string;
  socket: string;
  bundle: string;
  emptyBinary: string;
  pid: number;
  freshNamespaces: boolean;
  close: () => Promise<void>;
}

/** Sets the fixture up; on any failure it tears down what it already started, then throws. */
export async function openFixture(agentBinary: string): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), "armor-bench-"));
  const started: Subprocess[] = [];
  const close = async (): Promise<void> => {
    for (const proc of started.reverse()) {
      proc.kill("SIGKILL");
      await proc.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const emptyBinary = installCopy(dir, await buildEmptyBinary(dir), "empty");
    const socket = join(dir, "armor.sock");
    // The hook's pages are the bench's own business (bench:hook --cold): this agent leaves them alone.
    const agent = Bun.spawn([agentBinary, "serve", "--socket", socket, "--log-level", "error", "--no-warm-hook"], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: Bun.file(join(dir, "agent.log")),
    });
    started.push(agent);
    await waitFor(() => existsSync(socket), `agent socket ${socket} (see the agent's log)`);
    const sleeper = await startSleeper(started);
    const bundle = join(dir, "bundle");
    writeBundle(bundle);
    return { dir, socket, bundle, emptyBinary, ...sleeper, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Copies `binary` into `dir/bin/` with cp, as install.sh installs the hook, and returns the copy.
 * Every binary a bench compares is measured from such a copy, so all start in the same
 * page-cache state: how a file's pages came into the cache changes how fast it starts. A file
 * just written by cp (or any plain sequential write) sits in large folios; a file faulted back
 * in by exec after its pages were evicted sits in 4 KiB pages and starts ~1 ms slower (an empty
 * Bun binary 1.26x, measured here), and Bun.write, which scripts/build.ts patches with, leaves
 * the file uncached, so dist/ is faulted in by its first run.
 */
export function installCopy(dir: string, binary: string, name: string): string {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  const copy = join(bin, name);
  const cp = Bun.spawnSync(["cp", binary, copy], { stdout: "pipe", stderr: "pipe" });
  if (cp.exitCode !== 0) throw new Error(`cannot copy ${binary} to ${copy}: ${cp.stderr.toString().trim()}`);
  return copy;
}

/** The floor: an empty module compiled with the hook's own flags. */
export async function buildEmptyBinary(dir: string): Promise<string> {
  const entry = join(dir, "empty.ts");
  const outfile = join(dir, "empty");
  writeFileSync(entry, "");
  const build = Bun.spawnSync(["bun", "build", entry, ...HOOK_FLAGS, "--outfile", outfile], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`cannot build the empty binary: ${build.stderr.toString()}`);
  return outfile;
}

/**
 * `sleep 600` as a container stand-in. With unshare it is the first process of new
 * pid/mount/net/uts/ipc namespaces, and its pid is unshare's child, not unshare's.
 */
async function startSleeper(started: Subprocess[]): Promise<{ pid: number; freshNamespaces: boolean }> {
  const unshare = Bun.spawn(["unshare", "--pid", "--mount", "--net", "--uts", "--ipc", "--fork", "--kill-child", "sleep", "600"], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "ignore",
  });
  started.push(unshare);
  const children = `/proc/${unshare.pid}/task/${unshare.pid}/children`;
  const child = await waitFor(() => {
    if (unshare.exitCode !== null) return 0;
    const first = readFileSync(children, "utf8").trim().split(" ")[0];
    return first ? Number(first) : undefined;
  }, "unshare's child");
  if (child > 0 && namespaceOf(child, "pid") !== namespaceOf(process.pid, "pid")) return { pid: child, freshNamespaces: true };
  // No unshare (not root, or no namespaces): a plain process still has /proc/<pid>/ns links.
  const sleep = Bun.spawn(["sleep", "600"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  started.push(sleep);
  return { pid: sleep.pid, freshNamespaces: false };
}

/** A bundle whose config.json has what the hook reads: process args, AppArmor profile, annotations. */
function writeBundle(bundle: string): void {
  mkdirSync(bundle);
  const config = {
    ociVersion: "1.0.2",
    process: { args: ["sleep", "600"], cwd: "/", apparmorProfile: "armor-bench" },
    root: { path: "rootfs" },
    annotations: {
      "io.kubernetes.pod.name": "bench",
      "io.kubernetes.pod.namespace": "default",
      "io.kubernetes.pod.uid": "00000000-0000-0000-0000-000000000000",
      "io.kubernetes.container.name": "sleeper",
    },
  };
  writeFileSync(join(bundle, "config.json"), JSON.stringify(config, null, 2));
}

/** The inode in `/proc/<pid>/ns/<kind>` ("pid:[4026531836]" → 4026531836). */
export function namespaceOf(pid: number, kind: string): number {
  return Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/${kind}`))?.[1]);
}

/** Polls `probe` every 10 ms until it gives a value (not undefined/false), for at most 5 s. */
async function waitFor<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string): Promise<T> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch {
      // Not there yet.
    }
    await Bun.sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Hook processes get what a runtime gives them: a small fixed environment, the bundle as working directory. */
const HOOK_RUN_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };

/**
 * Runs `binary` once as a runtime would at `stage` for container `id` (the fixture's pid and
 * bundle) against `socket`; returns spawn-to-exit in ms, its exit status and its stderr.
 */
export function runHookOnce(
  fixture: Fixture,
  binary: string,
  stage: "createRuntime" | "poststop",
  socket: string,
  id: string,
): { ms: number; code: number; stderr: string } {
  const state =
    stage === "createRuntime"
      ? { ociVersion: "1.0.2", id, status: "creating", pid: fixture.pid, bundle: fixture.bundle, annotations: {} }
      : { ociVersion: "1.0.2", id, status: "stopped", bundle: fixture.bundle, annotations: {} };
  const stdin = new TextEncoder().encode(JSON.stringify(state));
  const start = Bun.nanoseconds();
  const run = Bun.spawnSync([binary, stage, "--socket", socket, "--timeout-ms", "2000"], {
    stdin,
    stdout: "pipe",
    stderr: "pipe",
    cwd: fixture.bundle,
    env: HOOK_RUN_ENV,
  });
  const ms = (Bun.nanoseconds() - start) / 1e6;
  return { ms, code: run.exitCode ?? -1, stderr: run.stderr.toString().trim() };
}
