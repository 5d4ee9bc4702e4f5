/**
 * The files beside the agent's socket, derived in this one place: one directory
 * per installation, created by the agent (or by the hook's first log line on a
 * node where the agent has not run yet). A bare socket name ("armor.sock") keeps
 * its files in "."; "/armor.sock" keeps them in "/", never in a relative path
 * (a runtime runs hooks in the bundle directory).
 */

/** Where the agent serves its protocol unless told otherwise (hook, agent and CLI share it). */
export const DEFAULT_SOCKET = "/run/armor/armor.sock";

/** Every file beside one socket. */
export interface Layout {
  /** The socket's directory. */
  dir: string;
  /** Events the hook could not hand over, replayed by the agent at start (lib/spool-format.ts). */
  spool: string;
  /** The hook's own log, one line per call (lib/hook-log-record.ts). */
  hookLog: string;
  /** The detached bootstrap fork's log. */
  bootstrapLog: string;
  /** Held by the one agent serving this socket. */
  agentLock: string;
  /** Held by the one bootstrap fork running for this socket. */
  bootstrapLock: string;
  /** Held by the one `armor-agent nri` injecting hooks that name this socket: two would inject twice. */
  nriLock: string;
}

/** The directory part of a path: "." for a bare name, "" for a file at the root. */
export function dirOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : path.slice(0, slash);
}

/** The files beside `socket`. */
export function layout(socket: string): Layout {
  const dir = dirOf(socket);
  return {
    dir: dir === "" ? "/" : dir,
    spool: `${dir}/spool`,
    hookLog: `${dir}/hook.log`,
    bootstrapLog: `${dir}/bootstrap.log`,
    agentLock: `${dir}/agent.lock`,
    bootstrapLock: `${dir}/bootstrap.lock`,
    nriLock: `${dir}/nri.lock`,
  };
}
