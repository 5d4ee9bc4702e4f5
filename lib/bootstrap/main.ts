/**
 * Entry of `armor-hook bootstrap`, loaded only on that path: it logs to a file
 * (it has no stdio: runc waits for a hook's pipes to close) and exits 0 once the
 * batch is sent, 7 when the agent never answered.
 */
import { appendFileSync, mkdirSync, readdirSync, readlinkSync } from "node:fs";
import { dirname } from "node:path";
import { toArmorError } from "../errors.ts";
import { parseHookArgs } from "../hook/args.ts";
import { EXIT_STATUS } from "../hook/exit-status.ts";
import { jsonLogger } from "../log.ts";
import { runBootstrap } from "./run.ts";

/** Runs the bootstrap with real I/O; returns the exit status. */
export async function bootstrapMain(argv: readonly string[]): Promise<number> {
  let logFile: string | undefined;
  const write = (line: string): void => {
    if (logFile === undefined) return void process.stderr.write(line);
    try {
      appendFileSync(logFile, line, { mode: 0o600 });
    } catch {
      // Nowhere left to say it; the agent's own deadline covers a silent failure.
    }
  };
  const log = jsonLogger("info", write);
  try {
    const args = parseHookArgs(argv);
    logFile = args.bootstrapLog;
    mkdirSync(dirname(logFile), { recursive: true, mode: 0o700 });
    const count = await runBootstrap(
      { socket: args.socket, roots: args.stateRoots, deadlineMs: args.bootstrapDeadlineMs, timeoutMs: Math.max(args.timeoutMs, 10_000) },
      { readDir: (path) => readdirSync(path), readText: (path) => Bun.file(path).text(), readLink: (path) => readlinkSync(path), log },
    );
    log("info", "bootstrap done", { containers: count });
    return 0;
  } catch (err) {
    const error = toArmorError(err);
    log("error", "bootstrap failed", { code: error.code, error: error.message });
    return EXIT_STATUS[error.code];
  }
}
