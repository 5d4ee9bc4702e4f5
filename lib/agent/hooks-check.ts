/**
 * `armor-agent check-hooks`: checks hooks.d files the way containers/common's
 * pkg/hooks (read.go, 1.0.0/hook.go) loads them for CRI-O and podman, so
 * install.sh can refuse a file before it lands. It runs in the compiled agent:
 * a node needs no jq, node or python for it.
 */
import { lstatSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { readRegularText } from "../safe-read.ts";

/** A hooks.d file is a few hundred bytes; CRI-O reads it whole. */
const MAX_HOOKS_FILE_BYTES = 1024 * 1024;

const STAGES = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];
/** The stages armor-hook serves, one hooks.d file each (its args name the stage), or both in one. */
const ARMOR_STAGES = ["createRuntime", "poststop"] as const;
const REFUSE = "CRI-O and podman refuse to create any container while this file is there";
const SKIP = "CRI-O, podman and the NRI hook-injector silently skip this hook";
const CONDITIONS = ["always", "annotations", "commands", "hasBindMounts"] as const;

const strings = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === "string");
const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const regexOk = (re: string): boolean => {
  try {
    new RegExp(re);
    return true;
  } catch {
    return false;
  }
};

/** Whether a path (already prefixed with the install root) is an executable file, or why not. */
export type StatPath = (path: string) => { isFile: boolean; mode: number } | undefined;

export const statHost: StatPath = (path) => {
  try {
    const stat = statSync(path);
    return { isFile: stat.isFile(), mode: stat.mode };
  } catch {
    return undefined;
  }
};

/**
 * `path` as a process chrooted into `root` sees it, prefixed with `root`: every symbolic link
 * followed, an absolute target read from `root` (never from the real /), ".." never above
 * `root` — install.sh resolves the paths it writes the same way. Undefined past 40 links.
 */
export function resolveInRoot(root: string, path: string): string | undefined {
  if (root === "") return path;
  let cur = "";
  const rest = path.split("/");
  for (let hops = 0; rest.length > 0;) {
    const comp = rest.shift() as string;
    if (comp === "" || comp === ".") continue;
    if (comp === "..") {
      cur = cur.slice(0, cur.lastIndexOf("/"));
      continue;
    }
    let target: string | undefined;
    try {
      if (lstatSync(root + cur + "/" + comp).isSymbolicLink()) target = readlinkSync(root + cur + "/" + comp);
    } catch {
      // missing: the rest is taken as written
    }
    if (target === undefined) {
      cur += "/" + comp;
      continue;
    }
    if (++hops > 40) return undefined;
    if (target.startsWith("/")) cur = "";
    rest.unshift(...target.split("/"));
  }
  return root + (cur || "/");
}

/** Every problem of one parsed hooks.d document; empty when CRI-O/podman would load it. */
export function hooksFileProblems(doc: unknown, root: string, stat: StatPath = statHost): string[] {
  if (!isRecord(doc)) return [`not a JSON object: ${REFUSE}`];
  if (doc.version !== "1.0.0") {
    const legacy = doc.version === undefined || doc.version === "0.1.0";
    return [`version is ${JSON.stringify(doc.version)}, not "1.0.0": ${legacy ? "legacy 0.1.0 schema, not checked here" : REFUSE}`];
  }
  const hook = doc.hook;
  if (!isRecord(hook) || typeof hook.path !== "string" || hook.path === "") return [`hook.path is missing: ${REFUSE}`];
  const out: string[] = [];
  if (hook.args !== undefined && !strings(hook.args)) out.push(`hook.args is not a list of strings: ${REFUSE}`);
  if (hook.env !== undefined && !strings(hook.env)) out.push(`hook.env is not a list of strings: ${REFUSE}`);
  if (hook.timeout !== undefined && !(Number.isInteger(hook.timeout) && (hook.timeout as number) > 0)) {
    out.push(`hook.timeout is not a positive whole number of seconds: ${REFUSE}`);
  }
  const resolved = resolveInRoot(root, hook.path);
  const found = resolved === undefined ? undefined : stat(resolved);
  if (!found) out.push(`hook.path ${hook.path} does not exist: ${SKIP}`);
  else if (!(found.isFile && (found.mode & 0o111) !== 0)) out.push(`hook.path ${hook.path} is not an executable file: the runtime fails every container start`);
  const when = doc.when;
  if (!isRecord(when) || !CONDITIONS.some((k) => when[k] !== undefined)) {
    out.push(`when needs at least one of ${CONDITIONS.join(", ")}: the hook is never injected`);
  } else {
    for (const k of ["always", "hasBindMounts"]) if (when[k] !== undefined && typeof when[k] !== "boolean") out.push(`when.${k} is not a boolean: ${REFUSE}`);
    if (when.commands !== undefined && !(strings(when.commands) && when.commands.every(regexOk)))
      out.push(`when.commands is not a list of regular expressions: ${REFUSE}`);
    const annotations = when.annotations;
    if (
      annotations !== undefined &&
      !(isRecord(annotations) && Object.entries(annotations).every(([k, v]) => typeof v === "string" && regexOk(k) && regexOk(v)))
    ) {
      out.push(`when.annotations is not a map of regular expressions: ${REFUSE}`);
    }
  }
  const stages = doc.stages;
  if (!strings(stages) || stages.length === 0) out.push(`stages is missing or not a list of strings: ${REFUSE}`);
  else for (const stage of stages) if (!STAGES.includes(stage)) out.push(`unknown stage ${JSON.stringify(stage)}: ${REFUSE}`);
  if (hook.path.endsWith("/armor-hook")) {
    if (!strings(hook.env)) out.push("hook.env is not set: armor-hook would inherit the runtime environment (BUN_OPTIONS, BUN_BE_BUN)");
    else if (hook.env.some((e) => e.startsWith("BUN_"))) out.push("hook.env sets a BUN_ variable: the compiled hook would obey it");
    // The stage argument (argv[1]) is what the hook acts on, before it reads stdin.
    const args = strings(hook.args) ? hook.args : [];
    const named = ARMOR_STAGES.find((stage) => stage === args[1]);
    if (strings(stages) && named !== undefined && !(stages.length === 1 && stages[0] === named))
      out.push(`hook.args name the stage ${named}, so stages must be ["${named}"] alone: at any other stage armor-hook would act as ${named}`);
    if (strings(stages) && named === undefined && !(stages.includes("createRuntime") && stages.includes("poststop")))
      out.push("stages must include createRuntime and poststop for an armor-hook whose args name no stage");
  }
  return out;
}

/** Checks each file, printing `FILE: ok` or `FILE: problem` lines; returns how many files failed. */
export function checkHooksFiles(files: readonly string[], root: string, print: (line: string) => void): number {
  let failed = 0;
  for (const file of files) {
    let found: string[];
    try {
      // CRI-O follows a link in hooks.d, so the check does too; a FIFO or a device never hangs it.
      found = hooksFileProblems(JSON.parse(readRegularText(realpathSync(file), MAX_HOOKS_FILE_BYTES)), root);
    } catch (err) {
      found = [`cannot read it as JSON (${err instanceof Error ? err.message : String(err)}): ${REFUSE}`];
    }
    for (const problem of found) print(`${file}: ${problem}`);
    if (found.length === 0) print(`${file}: ok`);
    else failed += 1;
  }
  return failed;
}
