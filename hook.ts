/**
 * armor-hook: executed by an OCI runtime at createRuntime and poststop. Its start-up is on
 * every container's critical path: a healthy call runs lib/hook/fast.ts, synchronous system
 * calls only (no event loop, no thread pool, no node:fs); anything else loads the whole
 * path (lib/hook/full.ts, a chunk of its own) and hands it what was already read.
 * `armor-hook bootstrap` (the detached fork) loads its code only on that path.
 */
import { fastHook } from "./lib/hook/fast.ts";
import { logCall, writesOwnLine } from "./lib/hook/log-call.ts";
import { logEffects } from "./lib/hook/log-effects.ts";
import { logSettings } from "./lib/hook/args.ts";
import { syncIo } from "./lib/hook/sync-io.ts";
import { VERSION } from "./lib/version.ts";

const argv = process.argv.slice(2);
if (argv[0] === "bootstrap") {
  const { bootstrapMain } = await import("./lib/hook/bootstrap-main.ts");
  process.exit(await bootstrapMain(argv.slice(1)));
}

const fast = fastHook(argv, syncIo);
if ("handoff" in fast) {
  const { runFullHook } = await import("./lib/hook/full.ts");
  const outcome = await runFullHook(argv, VERSION, fast.handoff);
  // Bun.write awaits the pipe: a line written with process.stderr.write could be lost on exit.
  if (outcome.stdout) await Bun.write(Bun.stdout, `${outcome.stdout}\n`);
  if (outcome.stderr) await Bun.write(Bun.stderr, `${outcome.stderr}\n`);
  process.exit(outcome.status);
}
// Only when the line is the hook's to write: awaiting anything, even a settled promise, costs a
// turn of the event loop (2.26x -> 1.80x the empty binary in one bench:hook run).
const settings = logSettings(fast.args);
if (writesOwnLine(settings, fast.decision)) await logCall(logEffects, settings, fast.facts, fast.decision);
process.exit(0);
