/**
 * Shared machinery of the end-to-end tests: the compiled binaries, a real agent
 * process, busybox bundles, and real runc/crun runs. Everything started here is
 * stopped and reaped by the test that started it.
 */
import { mkdtempSync, mkdirSync, readlinkSync, rmSync, symlinkSync, copyFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = resolve(import.meta.dir, "../..");
export const HOOK = join(ROOT, "dist/armor-hook");
export const AGENT = join(ROOT, "dist/armor-agent");
/** The environment every hook entry we write carries (never the runtime's own). */
export const HOOK_ENV = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"];

/** A fresh directory under the system temp dir. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `armor-${prefix}-`));
}

/** Removes a directory tree, ignoring what is already gone. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Result of a finished command. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion with optional stdin. */
export async function run(cmd: string[], options: { stdin?: string; env?: Record<string, string>; cwd?: string } = {}): Promise<Ran> {
  const proc = Bun.spawn(cmd, {
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
    ...(options.env ? { env: options.env } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await Bun.sleep(20);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** A real armor-agent process on its own socket. */
export class AgentProcess {
  readonly socket: string;
  readonly proc: Subprocess<"ignore", "ignore", "pipe">;
  #stderr = "";

  private constructor(socket: string, proc: Subprocess<"ignore", "ignore", "pipe">) {
    this.socket = socket;
    this.proc = proc;
    void (async () => {
      for await (const chunk of proc.stderr) this.#stderr += new TextDecoder().decode(chunk);
    })();
  }

  /** Starts `armor-agent serve` and waits until it answers. */
  static async start(socket: string, extra: string[] = []): Promise<AgentProcess> {
    const proc = Bun.spawn([AGENT, "serve", "--socket", socket, ...extra], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    const agent = new AgentProcess(socket, proc);
    await waitFor("the agent's socket", async () => {
      if (proc.exitCode !== null) throw new Error(`agent exited with ${proc.exitCode}: ${agent.log}`);
      return (await agent.cli(["list", "--json"])).code === 0;
    });
    return agent;
  }

  /** Runs an `armor-agent` client command against this agent. */
  cli(args: string[]): Promise<Ran> {
    return run([AGENT, ...args, "--socket", this.socket]);
  }

  /** The records the agent holds now. */
  async list(): Promise<Record<string, unknown>[]> {
    const ran = await this.cli(["list", "--json"]);
    if (ran.code !== 0) throw new Error(`armor-agent list failed (${ran.code}): ${ran.stderr}`);
    return JSON.parse(ran.stdout) as Record<string, unknown>[];
  }

  /** Everything the agent logged so far. */
  get log(): string {
    return this.#stderr;
  }

  /** Stops the agent with SIGTERM and reaps it. */
  async stop(): Promise<number> {
    if (this.proc.exitCode === null) this.proc.kill("SIGTERM");
    return await this.proc.exited;
  }
}

/** Makes a busybox-static root filesystem. */
export function makeRootfs(dir: string): string {
  const rootfs = join(dir, "rootfs");
  for (const sub of ["bin", "proc", "sys", "dev", "tmp", "etc", "armor"]) mkdirSync(join(rootfs, sub), { recursive: true });
  const busybox = ["/bin/busybox", "/usr/bin/busybox"].find((path) => existsSync(path));
  if (!busybox) throw new Error("busybox not found: apt-get install busybox-static");
  copyFileSync(busybox, join(rootfs, "bin/busybox"));
  for (const applet of ["sh", "sleep", "cat", "echo", "test", "grep", "ls", "true"]) symlinkSync("busybox", join(rootfs, "bin", applet));
  return rootfs;
}

/** A hook entry of config.json, always with its own `env`. */
export function hookEntry(stage: string, socket: string, timeoutMs = 2000): Record<string, unknown> {
  return { path: HOOK, args: ["armor-hook", stage, "--socket", socket, "--timeout-ms", String(timeoutMs)], env: HOOK_ENV, timeout: 10 };
}

/** What a test bundle holds. */
export interface BundleOptions {
  args: string[];
  env?: string[];
  annotations?: Record<string, string>;
  mounts?: Array<{ source: string; destination: string; readonly?: boolean }>;
  hooks?: Record<string, unknown[]>;
  apparmorProfile?: string;
}

/** Writes `<dir>/config.json` from `runc spec`'s defaults plus the options; returns the bundle path. */
export async function makeBundle(dir: string, options: BundleOptions): Promise<string> {
  makeRootfs(dir);
  const spec = await run(["runc", "spec", "--bundle", dir]);
  if (spec.code !== 0) throw new Error(`runc spec failed: ${spec.stderr}`);
  const config = JSON.parse(await Bun.file(join(dir, "config.json")).text()) as Record<string, any>;
  config.process.terminal = false;
  config.process.args = options.args;
  config.process.env = ["PATH=/bin", ...(options.env ?? [])];
  if (options.apparmorProfile !== undefined) config.process.apparmorProfile = options.apparmorProfile;
  config.root.readonly = false;
  config.annotations = options.annotations ?? {};
  for (const mount of options.mounts ?? []) {
    config.mounts.push({ destination: mount.destination, type: "bind", source: mount.source, options: ["rbind", mount.readonly === false ? "rw" : "ro"] });
  }
  if (options.hooks) config.hooks = options.hooks;
  writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 2));
  return dir;
}

/** Bind mounts that let a dynamically linked host binary (the compiled agent) run in a busybox rootfs. */
export async function sharedLibraryMounts(binary: string): Promise<Array<{ source: string; destination: string }>> {
  const ldd = await run(["ldd", binary]);
  const paths = [...ldd.stdout.matchAll(/(\/\S+)\s+\(0x/g)].map((match) => match[1] as string);
  return [...new Set(paths)].map((path) => ({ source: path, destination: path }));
}

/** Namespace inode numbers of a host pid, as /proc shows them. */
export function hostNamespaces(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const kind of ["pid", "mnt", "net", "uts", "ipc", "cgroup", "user", "time"]) {
    try {
      const match = /\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/${kind}`));
      if (match?.[1]) out[kind] = Number(match[1]);
    } catch {
      // Kernel without this namespace kind.
    }
  }
  return out;
}

/** A runtime under test: how to run, inspect and kill a container with it. */
export interface Runtime {
  name: "runc" | "crun";
  /** Command that runs a container in the foreground until it exits. */
  runCommand(bundle: string, id: string): string[];
  command(args: string[]): string[];
}

/** crun refuses this machine's hybrid cgroup layout unless the v2 mount is hidden in a private mount namespace. */
const inCrunNamespace = (args: string[]): string[] => [
  "unshare",
  "-m",
  "sh",
  "-c",
  'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"',
  "crun",
  "crun",
  ...args,
];

/** runc, with its state under `root` (its default, /run/runc, when not given). */
export function runcRuntime(root?: string): Runtime {
  const global = root ? ["--root", root] : [];
  return { name: "runc", runCommand: (bundle, id) => ["runc", ...global, "run", "--bundle", bundle, id], command: (args) => ["runc", ...global, ...args] };
}

/** crun, with its state under `root` (its default, /run/crun, when not given). */
export function crunRuntime(root?: string): Runtime {
  const global = root ? ["--root", root] : [];
  return {
    name: "crun",
    runCommand: (bundle, id) => inCrunNamespace([...global, "run", "--bundle", bundle, id]),
    command: (args) => inCrunNamespace([...global, ...args]),
  };
}

export const RUNTIMES: Runtime[] = [runcRuntime(), crunRuntime()];

/** Starts a container detached (`run -d`); resolves once the runtime returns, hooks done. */
export async function runDetached(runtime: Runtime, bundle: string, id: string): Promise<void> {
  const [first, ...rest] = runtime.runCommand(bundle, id);
  const cmd = [first as string, ...rest];
  const runAt = cmd.lastIndexOf("run");
  cmd.splice(runAt + 1, 0, "--detach");
  // The container inherits the runtime's stdio: pipes would never reach EOF, so
  // stderr goes to a file and the rest to /dev/null.
  const errFile = join(tmpdir(), `armor-detach-${process.pid}-${id}.err`);
  const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "ignore", stderr: Bun.file(errFile) });
  const code = await proc.exited;
  const stderr = await Bun.file(errFile)
    .text()
    .catch(() => "");
  rmSync(errFile, { force: true });
  if (code !== 0) throw new Error(`${runtime.name} run --detach ${id} failed (${code}): ${stderr}`);
}

/** Stops and deletes a container; its poststop hook runs. */
export async function stopContainer(runtime: Runtime, id: string): Promise<void> {
  await run(runtime.command(["kill", id, "KILL"]));
  for (let attempt = 0; attempt < 50; attempt++) {
    const deleted = await run(runtime.command(["delete", id]));
    if (deleted.code === 0) return;
    await Bun.sleep(20);
  }
  const forced = await run(runtime.command(["delete", "--force", id]));
  if (forced.code !== 0) throw new Error(`${runtime.name} delete ${id} failed: ${forced.stderr}`);
}

/** Ids of the containers the runtime lists as running (or created: process exists, not yet started). */
export async function listIds(runtime: Runtime): Promise<string[]> {
  const ran = await run(runtime.command(["list", "--format", "json"]));
  if (ran.code !== 0) throw new Error(`${runtime.name} list failed: ${ran.stderr}`);
  const list = (JSON.parse(ran.stdout || "[]") ?? []) as Array<{ id: string; status: string }>;
  return list
    .filter((c) => c.status === "running" || c.status === "created")
    .map((c) => c.id)
    .sort();
}

/** The pid of a running container, from the runtime's own state. */
export async function containerPid(runtime: Runtime, id: string): Promise<number> {
  const state = await run(runtime.command(["state", id]));
  if (state.code !== 0) throw new Error(`${runtime.name} state ${id}: ${state.stderr}`);
  return (JSON.parse(state.stdout) as { pid: number }).pid;
}

/** Reads a child's stdout until `marker` appears (or the child exits). */
export async function readUntil(stream: ReadableStream<Uint8Array>, marker: string, timeoutMs = 15_000): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  const deadline = Date.now() + timeoutMs;
  try {
    while (!seen.includes(marker)) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      // A cleared timer, not Bun.sleep: a pending sleep would keep the process alive after its work is done.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), remaining);
      });
      const chunk = await Promise.race([reader.read(), timedOut]).finally(() => clearTimeout(timer));
      if (!chunk || chunk.done) break;
      seen += decoder.decode(chunk.value);
    }
  } finally {
    reader.releaseLock();
  }
  return seen;
}

/** A bash script run as another local user (uid and gid 65534, nobody), the way any user could reach a port. */
export function spawnAsNobody<Out extends "pipe" | "ignore">(script: string, stdout: Out): Subprocess<"ignore", Out, "ignore"> {
  return Bun.spawn(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash", "-c", script], { stdin: "ignore", stdout, stderr: "ignore" });
}

/** A loopback port nothing listens on right now. */
export function freePort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port ?? 0;
  probe.stop(true);
  return port;
}
