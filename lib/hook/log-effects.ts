/** How the binary writes its log line (lib/hook/log-call.ts), on either path. */
import * as sys from "../syscall.ts";
import type { LogDeps } from "./log-call.ts";

const encoder = new TextEncoder();

export const logEffects: Pick<LogDeps, "writeLog" | "leaveFile"> = {
  // Appending needs node:fs (~5 ms to load), a chunk of its own (--splitting) loaded only by a
  // call that failed, or that found no agent to leave its line to (lib/hook-log-pending.ts).
  writeLog: async (settings, line) => void (await import("../rotating-log.ts")).appendLogLine(settings, line),
  // A new file, synchronously: the healthy path starts no asynchronous I/O. It fails when the
  // directory is missing (no agent appends pending lines then).
  leaveFile: async (dir, name, content) => sys.writeNewFile(`${dir}/${name}`, encoder.encode(content)),
};
