/**
 * Prepares the agent's socket path: a private directory, the agent's lock (no
 * second agent on the same socket), and no stale socket file left by a dead one.
 */
import { chmodSync, lstatSync, mkdirSync, statSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { AgentClient } from "../client.ts";
import { ArmorError, errnoOf } from "../errors.ts";
import { layout } from "../layout.ts";
import type { Logger } from "../log.ts";
import { takeAgentLock, type AgentLock } from "./lock.ts";

export { DEFAULT_SOCKET } from "../wire/messages.ts";

/**
 * Makes the socket's directory (0700) if missing, refuses a directory others can
 * write to, takes the agent's lock (lib/agent/lock.ts) before touching anything
 * in it, refuses to start when another agent answers on the socket, and removes
 * a stale socket file. Returns the lock, held until the caller releases it.
 */
export async function prepareSocketPath(path: string, log: Logger): Promise<AgentLock> {
  const dir = dirname(path);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new ArmorError("E_SOCKET", `cannot create socket directory ${dir}: ${errnoOf(err) ?? String(err)}`, { cause: err });
  }
  const dirStat = statSync(dir);
  const dirMode = dirStat.mode;
  if ((dirMode & 0o022) !== 0) {
    throw new ArmorError(
      "E_SOCKET",
      `socket directory ${dir} is writable by group or others (mode ${(dirMode & 0o777).toString(8)}): anyone could replace the socket`,
    );
  }
  if (dirStat.uid !== process.getuid?.()) {
    throw new ArmorError("E_SOCKET", `socket directory ${dir} is owned by uid ${dirStat.uid}, not by the agent's uid: its owner could replace the socket`);
  }
  // A directory made by someone else (a hostPath volume is 0755) becomes private too.
  if ((dirMode & 0o777) !== 0o700) chmodSync(dir, 0o700);
  const lock = takeAgentLock(layout(path).agentLock);
  try {
    await removeStaleSocket(path, log);
    return lock;
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function removeStaleSocket(path: string, log: Logger): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return;
    throw new ArmorError("E_SOCKET", `cannot inspect ${path}: ${errnoOf(err) ?? String(err)}`, { cause: err });
  }
  if (!isSocket) throw new ArmorError("E_SOCKET", `${path} exists and is not a socket; refusing to replace it`);
  // An agent of a build without the lock may still be serving.
  if (await answers(path)) throw new ArmorError("E_SOCKET", `another agent is already serving on ${path}`);
  log("info", "removing stale socket left by a previous agent", { socket: path });
  unlinkSync(path);
}

/** Makes the socket owner-only, whatever the umask was when it was created. */
export function restrictSocket(path: string): void {
  chmodSync(path, 0o600);
}

async function answers(path: string): Promise<boolean> {
  try {
    const client = await AgentClient.connect({ socket: path, timeoutMs: 1000 });
    try {
      await client.request({ op: "ping" });
      return true;
    } catch (err) {
      // Something accepted the connection but spoke no protocol: still not ours to remove.
      return !(err instanceof ArmorError && err.code === "E_AGENT_UNREACHABLE");
    } finally {
      client.close();
    }
  } catch {
    return false;
  }
}
