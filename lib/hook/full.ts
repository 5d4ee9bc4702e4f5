/**
 * runHook() with the binary's real effects: the whole path, for every call the fast path
 * (lib/hook/fast.ts) hands over. A chunk of its own (scripts/build.ts: --splitting), loaded
 * only then: its client, its timers and Bun's asynchronous I/O cost a healthy call nothing.
 */
import { callAgent } from "../client.ts";
import * as sys from "../syscall.ts";
import { errnoOf } from "../errors.ts";
import { MAX_CONFIG_BYTES } from "../oci/bundle.ts";
import { MAX_STATE_BYTES } from "../oci/state.ts";
import { statNamespaceLink } from "../proc/namespaces.ts";
import type { HookDeps, HookOutcome } from "./deps.ts";
import type { Handoff } from "./fast.ts";
import { logEffects } from "./log-effects.ts";
import { runHook } from "./run.ts";
import { readBoundedText } from "./stdin.ts";

/** Runs the whole hook for `argv`, starting from what the fast path already read. */
export function runFullHook(argv: readonly string[], version: string, already: Handoff): Promise<HookOutcome> {
  const { reason: _, ...read } = already;
  const deps: HookDeps = {
    argv,
    readStdin: (signal) => readBoundedText(Bun.stdin.stream(), MAX_STATE_BYTES, signal),
    // One byte past the limit is enough to tell the file is too large; the rest is never read.
    readText: (path) =>
      Bun.file(path)
        .slice(0, MAX_CONFIG_BYTES + 1)
        .text(),
    readLink: statNamespaceLink,
    statIno: async (path) => (await Bun.file(path).stat()).ino,
    callAgent,
    bootstrapRunning: (path) => sys.lockHeld(path),
    spawnDetached: (args) => {
      // New session, no inherited stdio (runc waits for the hook's pipes to close),
      // and a fixed environment: nothing of the runtime's (BUN_OPTIONS…) reaches it.
      const child = Bun.spawn([process.execPath, ...args], {
        stdio: ["ignore", "ignore", "ignore"],
        detached: true,
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      });
      child.unref();
    },
    version,
    // Only when the agent could not be reached: the spool's node:fs stays off the healthy path.
    spool: async (dir, record) => (await import("./spool.ts")).writeSpool(dir, record),
    ...logEffects,
    dirExists: async (path) => {
      try {
        return (await Bun.file(path).stat()).isDirectory();
      } catch (err) {
        // Only "not there" means never started; a directory we cannot stat is not evidence of that.
        return errnoOf(err) !== "ENOENT";
      }
    },
  };
  return runHook(deps, read);
}
