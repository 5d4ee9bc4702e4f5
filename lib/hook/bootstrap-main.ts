/**
 * Entry of `armor-hook bootstrap`, loaded only on that path: it logs to a file
 * (it has no stdio: runc waits for a hook's pipes to close) and exits 0 once the
 * batch is sent, 7 when the agent never answered.
 */
import { readdirSync, readlinkSync, statSync } from "node:fs";
import { toArmorError } from "../errors.ts";
import { parseHookArgs } from "./args.ts";
import { EXIT_STATUS } from "./exit-status.ts";
import { jsonLogger } from "../log.ts";
import { appendLogLine, type RotatingLogOptions } from "../rotating-log.ts";
import { readHostText } from "../bootstrap/enumerate.ts";
import { runBootstrap } from "../bootstrap/run.ts";

/** Runs the bootstrap with real I/O; returns the exit status. */
export async function bootstrapMain(argv: readonly string[]): Promise<number> {
  let logFile: RotatingLogOptions | undefined;
  const write = (line: string): void => {
    if (logFile === undefined) return void process.stderr.write(line);
    // A failure has nowhere left to go; the agent's own deadline covers a silent bootstrap.
    appendLogLine(logFile, line);
  };
  const log = jsonLogger("info", write);
  try {
    const args = parseHookArgs(argv);
    // Bounded like the hook's own log: an agent that restarts in a loop bootstraps in a loop.
    logFile = { path: args.bootstrapLog, maxBytes: args.logMaxBytes, keep: args.logKeep };
    const count = await runBootstrap(
      {
        socket: args.socket,
        roots: args.stateRoots,
        deadlineMs: args.bootstrapDeadlineMs,
        settleMs: args.bootstrapSettleMs,
        timeoutMs: Math.max(args.timeoutMs, 10_000),
      },
      {
        readDir: (path) => readdirSync(path),
        readText: readHostText,
        readLink: (path) => readlinkSync(path),
        statIno: (path) => statSync(path).ino,
        log,
      },
    );
    log("info", "bootstrap done", { containers: count });
    return 0;
  } catch (err) {
    const error = toArmorError(err);
    log("error", "bootstrap failed", { code: error.code, error: error.message });
    return EXIT_STATUS[error.code];
  }
}
