/** How the binary writes its log line (lib/hook/log-call.ts), on either path. */
import type { LogDeps } from "./log-call.ts";

export const logEffects: Pick<LogDeps, "writeLog"> = {
  // Appending needs node:fs (~5 ms to load), a chunk of its own (--splitting) loaded only by a
  // call the agent did not confirm: a confirmed call's line goes to the agent on its connection.
  writeLog: async (settings, line) => void (await import("../rotating-log.ts")).appendLogLine(settings, line),
};
