/**
 * Files that live beside the agent's socket: the spool, the hook's log and its
 * pending lines, the bootstrap's log. One directory per installation, created by
 * the agent (or by the hook's first log line on a node where the agent has not run yet).
 */

/** The directory part of a path: "." for a bare name, "" for a file at the root. */
export function dirOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : path.slice(0, slash);
}

/** `name` in the socket's directory; "armor.sock" (no directory) gives "./name". */
export function besideSocket(socket: string, name: string): string {
  // "/armor.sock" gives "/name": a relative path would land in the runtime's cwd (the bundle).
  return `${dirOf(socket)}/${name}`;
}
