/**
 * A directory beside the socket that hooks write into and the agent reads from
 * (the spool): its existence is the agent's signal to hooks,
 * so it is made owner-only, by the agent's own uid, and nothing else passes.
 */
import { chmodSync, lstatSync, mkdirSync } from "node:fs";
import { ArmorError, errnoOf } from "../errors.ts";

/** Creates `dir` 0700, or checks that the one there is a directory of the agent's own and makes it 0700. */
export function preparePrivateDir(dir: string, what: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if (errnoOf(err) !== "EEXIST") throw new ArmorError("E_SOCKET", `cannot create ${what} directory ${dir}: ${errnoOf(err) ?? String(err)}`, { cause: err });
  }
  const stat = lstatSync(dir);
  if (!stat.isDirectory()) throw new ArmorError("E_SOCKET", `${what} ${dir} is not a directory`);
  if (stat.uid !== process.getuid?.()) throw new ArmorError("E_SOCKET", `${what} directory ${dir} is owned by uid ${stat.uid}, not by the agent's`);
  chmodSync(dir, 0o700);
}

/** Age of a file in ms, or undefined when it is gone. */
export function fileAgeMs(path: string): number | undefined {
  try {
    return Date.now() - lstatSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}
