/**
 * armor-hook: executed by an OCI runtime at createRuntime and poststop. Only
 * Bun's own I/O here: this file's start-up is on every container's critical path.
 */
import { readlinkSync } from "node:fs";
import { callAgent } from "./lib/client.ts";
import { runHook } from "./lib/hook/run.ts";
import { VERSION } from "./lib/version.ts";

const outcome = await runHook({
  argv: process.argv.slice(2),
  readStdin: () => Bun.stdin.text(),
  readText: (path) => Bun.file(path).text(),
  readLink: (path) => readlinkSync(path),
  callAgent,
  version: VERSION,
});
// Bun.write awaits the pipe: a line written with process.stderr.write could be lost on exit.
if (outcome.stdout) await Bun.write(Bun.stdout, `${outcome.stdout}\n`);
if (outcome.stderr) await Bun.write(Bun.stderr, `${outcome.stderr}\n`);
process.exit(outcome.status);
