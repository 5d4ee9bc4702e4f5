/**
 * armor-hook: executed by an OCI runtime at createRuntime and poststop. Only
 * Bun's own I/O here: this file's start-up is on every container's critical path,
 * and importing node:fs alone would add ~5 ms to it (see bench/README.md).
 * `armor-hook bootstrap` (the detached fork) loads its code only on that path:
 * scripts/build.ts splits it into a chunk of its own, with its node:fs and node:path.
 */
import { callAgent } from "./lib/client.ts";
import { errnoOf } from "./lib/errors.ts";
import { runHook } from "./lib/hook/run.ts";
import { readBoundedText } from "./lib/hook/stdin.ts";
import { MAX_CONFIG_BYTES } from "./lib/oci/bundle.ts";
import { MAX_STATE_BYTES } from "./lib/oci/state.ts";
import { statNamespaceLink } from "./lib/proc/namespaces.ts";
import { VERSION } from "./lib/version.ts";

const argv = process.argv.slice(2);
// Appending to the log needs node:fs (~5 ms to load), a chunk of its own (--splitting) loaded
// only by a call that failed, or that found no agent to leave its line to (lib/hook-log-pending.ts).
const loadLogWriter = () => import("./lib/rotating-log.ts");
if (argv[0] === "bootstrap") {
  const { bootstrapMain } = await import("./lib/hook/bootstrap-main.ts");
  process.exit(await bootstrapMain(argv.slice(1)));
}

const outcome = await runHook({
  argv,
  readStdin: (signal) => readBoundedText(Bun.stdin.stream(), MAX_STATE_BYTES, signal),
  // One byte past the limit is enough to tell the file is too large; the rest is never read.
  readText: (path) =>
    Bun.file(path)
      .slice(0, MAX_CONFIG_BYTES + 1)
      .text(),
  readLink: statNamespaceLink,
  callAgent,
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
  version: VERSION,
  // Only when the agent could not be reached: the spool's node:fs stays off the healthy path.
  spool: async (dir, record) => (await import("./lib/hook/spool.ts")).writeSpool(dir, record),
  writeLog: async (settings, line) => void (await loadLogWriter()).appendLogLine(settings, line),
  // createPath false: the directory's absence means no agent appends pending lines.
  leaveFile: async (dir, name, content) => void (await Bun.write(`${dir}/${name}`, content, { createPath: false })),
  dirExists: async (path) => {
    try {
      return (await Bun.file(path).stat()).isDirectory();
    } catch (err) {
      // Only "not there" means never started; a directory we cannot stat is not evidence of that.
      return errnoOf(err) !== "ENOENT";
    }
  },
});
// Bun.write awaits the pipe: a line written with process.stderr.write could be lost on exit.
if (outcome.stdout) await Bun.write(Bun.stdout, `${outcome.stdout}\n`);
if (outcome.stderr) await Bun.write(Bun.stderr, `${outcome.stderr}\n`);
process.exit(outcome.status);
