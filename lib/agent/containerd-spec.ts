/**
 * containerd's base runtime spec carrying armor-hook, and the one config line that
 * points containerd at it (`base_runtime_spec` of the runc runtime). install.sh
 * builds the spec from the node's own default (`ctr oci spec`), checks it, and
 * asks here whether a containerd config names it before removing it: a config
 * naming a missing file disables containerd's CRI plugin, so no pod runs on the
 * node. Runs in the compiled agent, so a node needs no jq or python for it.
 */
import * as v from "valibot";
import { readFileSync } from "node:fs";
import { resolveInRoot, statHost, type StatPath } from "./hooks-check.ts";
import { ArmorError, errnoOf } from "../errors.ts";
import { describeIssue } from "../validate.ts";

/** The runtime section `base_runtime_spec` belongs to, by config schema: version 2 is containerd 1.x, version 3 is 2.x. */
export const RUNC_RUNTIME_SECTION = {
  2: `plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc`,
  3: `plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc`,
} as const;
export type ConfigVersion = keyof typeof RUNC_RUNTIME_SECTION;

const HookSchema = v.looseObject({
  path: v.pipe(v.string(), v.startsWith("/", "a hook's path must be absolute")),
  args: v.optional(v.array(v.string())),
  env: v.optional(v.array(v.string())),
  timeout: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
});
type Hook = v.InferOutput<typeof HookSchema>;

const HOOK_STAGES = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"] as const;

const hookList = v.optional(v.array(HookSchema));
const HooksSchema = v.looseObject({
  prestart: hookList,
  createRuntime: hookList,
  createContainer: hookList,
  startContainer: hookList,
  poststart: hookList,
  poststop: hookList,
});

/** What containerd needs of a base spec to start containers from it (it fills in the rest per container). */
const BaseSpecSchema = v.looseObject({
  ociVersion: v.string(),
  process: v.looseObject({ cwd: v.string() }),
  root: v.looseObject({ path: v.string() }),
  linux: v.looseObject({}),
  hooks: v.optional(v.nullable(HooksSchema)),
});

/** The two stages armor-hook runs at, each needing one entry. */
const ARMOR_STAGES = ["createRuntime", "poststop"] as const;
const isArmorHook = (hook: Hook): boolean => hook.path.endsWith("/armor-hook");

/** Problems of a base spec as containerd would run it, hook binaries resolved inside `root`; empty when fine. */
export function baseSpecProblems(doc: unknown, root: string, stat: StatPath): string[] {
  const parsed = v.safeParse(BaseSpecSchema, doc);
  if (!parsed.success) return [`not an OCI runtime spec containerd can start containers from: ${describeIssue(parsed.issues[0])}`];
  const out: string[] = [];
  const hooks = parsed.output.hooks ?? {};
  for (const stage of ARMOR_STAGES) {
    const ours = (hooks[stage] ?? []).filter(isArmorHook);
    if (ours.length !== 1) out.push(`hooks.${stage} must hold armor-hook once, holds it ${ours.length} times`);
  }
  for (const stage of HOOK_STAGES) {
    for (const hook of hooks[stage] ?? []) {
      const resolved = resolveInRoot(root, hook.path);
      const found = resolved === undefined ? undefined : stat(resolved);
      if (!found || !found.isFile || (found.mode & 0o111) === 0) {
        out.push(`hooks.${stage}: ${hook.path} is not an executable file: every container containerd starts from this spec would fail`);
      }
      if (isArmorHook(hook) && (hook.env === undefined || hook.env.some((e) => e.startsWith("BUN_")))) {
        out.push(`hooks.${stage}: armor-hook needs its own env without BUN_ variables (a compiled Bun binary obeys them)`);
      }
    }
  }
  return out;
}

/**
 * The default spec with armor-hook's entries added at createRuntime and poststop;
 * hooks already there stay, an earlier armor-hook entry is replaced. Throws on a
 * default that is not a spec.
 */
export function withArmorHooks(defaultSpec: unknown, armor: Record<(typeof ARMOR_STAGES)[number], Hook>): Record<string, unknown> {
  const parsed = v.safeParse(BaseSpecSchema, defaultSpec);
  if (!parsed.success) throw new Error(`the default spec is not an OCI runtime spec: ${describeIssue(parsed.issues[0])}`);
  const hooks: Record<string, Hook[]> = {};
  for (const [stage, list] of Object.entries(parsed.output.hooks ?? {})) if (Array.isArray(list)) hooks[stage] = list as Hook[];
  for (const stage of ARMOR_STAGES) hooks[stage] = [...(hooks[stage] ?? []).filter((hook) => !isArmorHook(hook)), armor[stage]];
  return { ...parsed.output, hooks };
}

// ---- containerd's config.toml: only the one line, never a TOML rewrite --------------------------

/** A `[table]` header line, its dotted name with quotes and spaces normalised. */
function headerName(line: string): string | undefined {
  const match = /^\s*\[([^[\]]+)\]\s*(#.*)?$/.exec(line);
  if (!match?.[1]) return undefined;
  // Dotted keys, split outside quotes: "io.containerd.grpc.v1.cri" is one key.
  const keys: string[] = [];
  let key = "";
  let quote = "";
  for (const ch of match[1]) {
    if (quote !== "") {
      if (ch === quote) quote = "";
      else key += ch;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === ".") {
      keys.push(key.trim());
      key = "";
    } else key += ch;
  }
  keys.push(key.trim());
  return keys.join("\u0000");
}

const normalise = (section: string): string => headerName(`[${section}]`) ?? section;
const BASE_SPEC_LINE = /^\s*base_runtime_spec\s*=\s*(["'])(.*)\1\s*(#.*)?$/;

/** The config's schema version (`version = N`); 1 when absent, as containerd reads it. */
export function configVersion(text: string): number {
  const match = /^\s*version\s*=\s*(\d+)\s*(#.*)?$/m.exec(text);
  return match?.[1] ? Number(match[1]) : 1;
}

/** Whether any `base_runtime_spec` line of the config names `specPath`. */
export function configNamesSpec(text: string, specPath: string): boolean {
  return text.split("\n").some((line) => BASE_SPEC_LINE.exec(line)?.[2] === specPath);
}

/** The lines an administrator adds for each containerd major version. */
export function configLines(specPath: string): Record<"1.x" | "2.x", string> {
  return {
    "1.x": `[${RUNC_RUNTIME_SECTION[2]}]\n  base_runtime_spec = ${JSON.stringify(specPath)}`,
    "2.x": `[${RUNC_RUNTIME_SECTION[3]}]\n  base_runtime_spec = ${JSON.stringify(specPath)}`,
  };
}

/**
 * The config with the runc runtime's `base_runtime_spec` set to `specPath` (the
 * line replaced in place, added under the table's header, or the table appended).
 * Throws for a config it cannot edit safely: schema version 1, or a
 * base_runtime_spec for runc written some other way (inline or dotted keys).
 */
export function setConfigSpec(text: string, specPath: string): string {
  const version = configVersion(text);
  if (version !== 2 && version !== 3) {
    throw new Error(`config version ${version}: only versions 2 (containerd 1.x) and 3 (2.x) are edited; run containerd config migrate first`);
  }
  const section = normalise(RUNC_RUNTIME_SECTION[version]);
  const lines = text.split("\n");
  const value = `  base_runtime_spec = ${JSON.stringify(specPath)}`;
  let inSection = false;
  let header = -1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const name = headerName(line);
    if (name !== undefined) {
      inSection = name === section;
      if (inSection) header = i;
      continue;
    }
    if (BASE_SPEC_LINE.test(line)) {
      if (inSection) {
        lines[i] = value;
        return lines.join("\n");
      }
    } else if (/base_runtime_spec/.test(line) && !/^\s*#/.test(line) && (inSection || /runtimes\s*\.\s*["']?runc/.test(line))) {
      throw new Error(`line ${i + 1} sets base_runtime_spec in a form this edit does not handle: set it by hand`);
    }
  }
  if (header >= 0) {
    lines.splice(header + 1, 0, value);
    return lines.join("\n");
  }
  const tail = text.endsWith("\n") || text === "" ? "" : "\n";
  return `${text}${tail}\n[${RUNC_RUNTIME_SECTION[version]}]\n${value}\n`;
}

/** The config without the `base_runtime_spec` lines that name `specPath`. */
export function unsetConfigSpec(text: string, specPath: string): string {
  return text
    .split("\n")
    .filter((line) => BASE_SPEC_LINE.exec(line)?.[2] !== specPath)
    .join("\n");
}

// ---- `armor-agent containerd-spec ACTION`, as install.sh calls it ---------------------------------

export const CONTAINERD_SPEC_ACTIONS = ["build", "check", "names", "set", "unset", "lines"] as const;
export type ContainerdSpecAction = (typeof CONTAINERD_SPEC_ACTIONS)[number];

export interface ContainerdSpecOptions {
  action: ContainerdSpecAction;
  /** check: the spec file; names/set/unset: the containerd config. */
  file: string;
  /** build: the node's default spec (`ctr oci spec` output). */
  defaultSpec: string;
  /** build: a JSON document `{"hooks": {"createRuntime": [entry], "poststop": [entry]}}`. */
  hooks: string;
  /** names/set/unset/lines: the base spec's path as the node sees it. */
  spec: string;
  /** check: resolve hook paths inside this directory (install.sh --root). */
  root: string;
}

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ArmorError("E_USAGE", `cannot read ${what} ${path}: ${errnoOf(err) ?? String(err)}`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ArmorError("E_USAGE", `${what} ${path} is not JSON: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function readConfig(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return "";
    throw new ArmorError("E_USAGE", `cannot read containerd config ${path}: ${errnoOf(err) ?? String(err)}`, { cause: err });
  }
}

/** Runs one action, printing its result; returns the exit status (names: 0 named, 1 not). */
export function containerdSpecCommand(options: ContainerdSpecOptions, print: (text: string) => void): number {
  const need = (value: string, flag: string): string => {
    if (value === "") throw new ArmorError("E_USAGE", `containerd-spec ${options.action} needs ${flag}`);
    return value;
  };
  switch (options.action) {
    case "build": {
      const hooks = readJson(need(options.hooks, "--hooks FILE"), "hooks");
      const entries = v.safeParse(v.looseObject({ hooks: v.looseObject({ createRuntime: v.tuple([HookSchema]), poststop: v.tuple([HookSchema]) }) }), hooks);
      if (!entries.success) throw new ArmorError("E_USAGE", `hooks ${options.hooks}: ${describeIssue(entries.issues[0])}`);
      let spec: Record<string, unknown>;
      try {
        spec = withArmorHooks(readJson(need(options.defaultSpec, "--default FILE"), "default spec"), {
          createRuntime: entries.output.hooks.createRuntime[0],
          poststop: entries.output.hooks.poststop[0],
        });
      } catch (err) {
        throw err instanceof ArmorError ? err : new ArmorError("E_USAGE", `${options.defaultSpec}: ${err instanceof Error ? err.message : String(err)}`);
      }
      print(JSON.stringify(spec, null, 2));
      return 0;
    }
    case "check": {
      const file = need(options.file, "the spec FILE");
      const problems = baseSpecProblems(readJson(file, "base spec"), options.root, statHost);
      for (const problem of problems) print(`${file}: ${problem}`);
      if (problems.length === 0) print(`${file}: ok`);
      return problems.length === 0 ? 0 : 1;
    }
    case "names":
      return configNamesSpec(readConfig(need(options.file, "the config FILE")), need(options.spec, "--spec PATH")) ? 0 : 1;
    case "set":
      try {
        print(setConfigSpec(readConfig(need(options.file, "the config FILE")), need(options.spec, "--spec PATH")).replace(/\n$/, ""));
      } catch (err) {
        throw err instanceof ArmorError ? err : new ArmorError("E_USAGE", `${options.file}: ${err instanceof Error ? err.message : String(err)}`);
      }
      return 0;
    case "unset":
      print(unsetConfigSpec(readConfig(need(options.file, "the config FILE")), need(options.spec, "--spec PATH")).replace(/\n$/, ""));
      return 0;
    case "lines": {
      const lines = configLines(need(options.spec, "--spec PATH"));
      print(`containerd 1.x (config version 2):\n${lines["1.x"]}\ncontainerd 2.x (config version 3):\n${lines["2.x"]}`);
      return 0;
    }
  }
}
