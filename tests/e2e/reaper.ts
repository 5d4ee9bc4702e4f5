/**
 * PID 1 on these machines does not reap orphans, so a test that starts processes
 * which outlive their parent (the hook's detached bootstrap, detached containers'
 * init) makes itself their subreaper and reaps them.
 */
import { dlopen, FFIType } from "bun:ffi";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PR_SET_CHILD_SUBREAPER = 36;
const WNOHANG = 1;

const libc = dlopen("libc.so.6", {
  prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
  waitpid: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
});

/** Orphaned descendants of this process are re-parented to it (instead of PID 1) while on. */
export function setSubreaper(on: boolean): void {
  if (libc.symbols.prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0) !== 0) throw new Error("prctl(PR_SET_CHILD_SUBREAPER) failed");
}

function zombieChildren(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] === "Z" && Number(fields[1]) === process.pid) pids.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/**
 * Reaps zombie children that stay zombies across a pause: Bun reaps the ones it
 * spawned itself at once, so what remains are adopted orphans.
 */
export async function reapOrphans(): Promise<number> {
  const first = new Set(zombieChildren());
  if (first.size === 0) return 0;
  await Bun.sleep(500);
  let reaped = 0;
  for (const pid of zombieChildren()) {
    if (first.has(pid) && libc.symbols.waitpid(pid, null, WNOHANG) === pid) reaped += 1;
  }
  return reaped;
}

/**
 * Kills what the tests started and nothing waits for: processes whose command line
 * names the test's temp dir, e.g. a detached `armor-hook bootstrap` still in its
 * settle wait. Once this process exits they would be init's, which reaps nothing here.
 */
export async function killStragglers(work: string): Promise<number> {
  if (work === "") return 0;
  let killed = 0;
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      continue;
    }
    if (!cmdline.includes(work)) continue;
    try {
      process.kill(pid, "SIGKILL");
      killed += 1;
    } catch {
      // Gone meanwhile.
    }
  }
  return killed;
}

/**
 * Lifecycle of a test file that starts containers and agents: a temp dir, cleanups
 * run after each test (newest first), and this process as subreaper of what they
 * leave, all undone after the file. Returns the dir getter and `defer`.
 */
export function containerTestLifecycle(prefix: string, hooks: LifecycleHooks): { dir: () => string; defer: (cleanup: () => Promise<unknown> | void) => void } {
  let work = "";
  const cleanups: Array<() => Promise<unknown> | void> = [];
  hooks.beforeAll(() => {
    setSubreaper(true);
    work = mkdtempSync(join(tmpdir(), `armor-${prefix}-`));
  });
  hooks.afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await killStragglers(work);
    await reapOrphans();
  }, 120_000);
  hooks.afterAll(async () => {
    await killStragglers(work);
    await reapOrphans();
    setSubreaper(false);
    rmSync(work, { recursive: true, force: true });
  });
  return { dir: () => work, defer: (cleanup) => void cleanups.push(cleanup) };
}

/** bun:test's lifecycle functions, passed in so this module does not import bun:test itself. */
export interface LifecycleHooks {
  beforeAll: (fn: () => void) => void;
  afterEach: (fn: () => Promise<void>, timeoutMs: number) => void;
  afterAll: (fn: () => Promise<void>) => void;
}
