/**
 * Real busybox containers under runc for the polling-vs-events bench: one shared
 * read-only rootfs, a config.json per container (its id is in its command), a
 * private `--root`, and a bind-mounted directory where each container stamps the
 * CLOCK_MONOTONIC time its command starts and ends (bench/_clock.ts).
 */
import { copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { monotonicNs, shellStamp } from "./_clock.ts";

/** What one foreground `runc run` took. */
export interface Ran {
  id: string;
  code: number;
  /** `runc run` spawn to exit, ms. */
  wallMs: number;
  /** CLOCK_MONOTONIC at spawn, ns. */
  spawnedAtNs: bigint;
}

/** A private runc state root with a shared busybox rootfs and a base config.json. */
export class RuncLab {
  readonly root: string;
  readonly marks: string;
  readonly #dir: string;
  readonly #base: Record<string, any>;
  readonly #running = new Set<Subprocess>();
  #closed = false;

  private constructor(dir: string, base: Record<string, any>) {
    this.#dir = dir;
    this.root = join(dir, "runc");
    this.marks = join(dir, "marks");
    this.#base = base;
  }

  /** Prepares rootfs, state root and marks directory under `dir`. */
  static async create(dir: string): Promise<RuncLab> {
    const rootfs = join(dir, "rootfs");
    for (const sub of ["bin", "proc", "sys", "dev", "tmp", "m"]) mkdirSync(join(rootfs, sub), { recursive: true });
    const busybox = ["/bin/busybox", "/usr/bin/busybox"].find((path) => existsSync(path));
    if (!busybox) throw new Error("busybox not found: apt-get install busybox-static");
    copyFileSync(busybox, join(rootfs, "bin/busybox"));
    for (const applet of ["sh", "sleep", "true"]) symlinkSync("busybox", join(rootfs, "bin", applet));
    const spec = Bun.spawnSync(["runc", "spec", "--bundle", dir], { stderr: "pipe" });
    if (spec.exitCode !== 0) throw new Error(`runc spec failed: ${spec.stderr.toString()}`);
    const base = JSON.parse(await Bun.file(join(dir, "config.json")).text()) as Record<string, any>;
    base.process.terminal = false;
    base.process.env = ["PATH=/bin"];
    base.root = { path: rootfs, readonly: true };
    // The container reads CLOCK_MONOTONIC from /proc/timer_list, which runc masks by default.
    base.linux.maskedPaths = (base.linux.maskedPaths as string[]).filter((path) => path !== "/proc/timer_list");
    const lab = new RuncLab(dir, base);
    mkdirSync(lab.root, { recursive: true });
    mkdirSync(lab.marks, { recursive: true });
    base.mounts.push({ destination: "/m", type: "bind", source: lab.marks, options: ["rbind", "rw"] });
    return lab;
  }

  /** Writes the bundle of container `id`: stamp, `sleep lifeS` (if > 0), stamp; with `hooks` at createRuntime/poststop. */
  bundle(id: string, lifeS: number, hooks?: { createRuntime: unknown[]; poststop: unknown[] }): string {
    if (this.#closed) throw new Error("the runc lab is cleaned up: no new bundles");
    const bundle = join(this.#dir, "bundles", id);
    mkdirSync(bundle, { recursive: true });
    const stamp = shellStamp(`/m/${id}`);
    const script = lifeS > 0 ? `${stamp}; sleep ${lifeS}; ${stamp}` : stamp;
    const config = { ...this.#base, process: { ...this.#base.process, args: ["sh", "-c", script] }, ...(hooks ? { hooks } : {}) };
    writeFileSync(join(bundle, "config.json"), JSON.stringify(config));
    return bundle;
  }

  /** Starts `runc run` in the foreground (runc reaps the container and deletes it when it exits). */
  start(id: string, bundle: string): { spawnedAtNs: bigint; done: Promise<Ran> } {
    if (this.#closed) throw new Error("the runc lab is cleaned up: no new containers");
    const spawnedAtNs = monotonicNs();
    const t0 = performance.now();
    const proc = Bun.spawn(["runc", "--root", this.root, "run", "--bundle", bundle, id], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    this.#running.add(proc);
    const done = proc.exited.then((code) => {
      this.#running.delete(proc);
      return { id, code, wallMs: performance.now() - t0, spawnedAtNs };
    });
    return { spawnedAtNs, done };
  }

  /** Runs container `id` to its end. */
  run(id: string, bundle: string): Promise<Ran> {
    return this.start(id, bundle).done;
  }

  /** The CLOCK_MONOTONIC stamps (ns) container `id` wrote: its command's start, and end. */
  async stamps(id: string): Promise<bigint[]> {
    const text = await Bun.file(join(this.marks, id))
      .text()
      .catch(() => "");
    return text
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => /^\d+$/.test(line))
      .map((line) => BigInt(line));
  }

  /** Kills a running container by id (its foreground `runc run` then deletes it). */
  kill(id: string): void {
    Bun.spawnSync(["runc", "--root", this.root, "kill", id, "KILL"], { stderr: "ignore" });
  }

  /** Refuses new containers, kills and deletes every container left in the root, and waits for every `runc run` started here. */
  async cleanup(): Promise<void> {
    this.#closed = true;
    const list = Bun.spawnSync(["runc", "--root", this.root, "list", "-q"], { stderr: "ignore" });
    for (const id of list.stdout
      .toString()
      .split("\n")
      .filter((line) => line !== "")) {
      this.kill(id);
      Bun.spawnSync(["runc", "--root", this.root, "delete", "--force", id], { stderr: "ignore" });
    }
    for (const proc of this.#running) proc.kill("SIGKILL");
    await Promise.all([...this.#running].map((proc) => proc.exited));
  }
}
