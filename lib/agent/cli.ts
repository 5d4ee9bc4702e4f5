/**
 * armor-agent's command line contract, derived from each command's citty args table so that
 * a flag added or renamed there just works: unknown flags and value flags without a value
 * are usage errors (exit 2, one line); `--help` prints the usage, coloured only on a terminal
 * and never with NO_COLOR; `completion bash` prints a completion script generated from the
 * same tables. citty itself parses what passes, and runs the command.
 */
import { renderUsage, runCommand, type ArgDef, type ArgsDef, type CommandDef, type Resolvable } from "citty";
import { ArmorError } from "../errors.ts";

/** Where the CLI writes and how it ends; injected so tests can read it. */
export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  exit: (status: number) => never;
  /** Whether usage text may carry ANSI colour (see wantsColour()). */
  colour: boolean;
}

/** Colour only when writing to a terminal, and never with NO_COLOR set to anything (no-color.org) or TERM=dumb. */
export function wantsColour(env: Record<string, string | undefined>, isTerminal: boolean): boolean {
  return isTerminal && !env.NO_COLOR && env.TERM !== "dumb";
}

const ANSI = /\u001b\[[0-9;]*m/g;
const plain = (text: string): string => text.replace(ANSI, "");

async function resolve<T>(value: Resolvable<T> | undefined): Promise<T | undefined> {
  return typeof value === "function" ? await (value as () => T | Promise<T>)() : await value;
}

/** One flag spelling a command accepts. */
export interface FlagSpelling {
  /** The args-table key it sets. */
  name: string;
  /** A string or enum flag: takes the next word (or `=value`) as its value. */
  takesValue: boolean;
}

const aliasesOf = (def: ArgDef): string[] => ("alias" in def && def.alias !== undefined ? (Array.isArray(def.alias) ? def.alias : [def.alias]) : []);

/**
 * Every spelling of every flag in an args table: `--name`, each alias (`-x` for a one-letter one),
 * `--no-name` for booleans. Read it before citty parses: citty adds camelCase aliases to the table.
 */
export function flagSpellings(args: ArgsDef): Map<string, FlagSpelling> {
  const spellings = new Map<string, FlagSpelling>();
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") continue;
    const takesValue = def.type === "string" || def.type === "enum";
    for (const spelled of [name, ...aliasesOf(def)]) {
      const short = spelled !== name && spelled.length === 1;
      spellings.set(short ? `-${spelled}` : `--${spelled}`, { name, takesValue });
      if (!takesValue && !short) spellings.set(`--no-${spelled}`, { name, takesValue: false });
    }
  }
  return spellings;
}

/** Throws E_USAGE for the first word that is not a flag of `args`, or a value flag without its value. */
export function checkFlags(command: string, args: ArgsDef, raw: readonly string[]): void {
  const spellings = flagSpellings(args);
  for (let i = 0; i < raw.length; i++) {
    const word = raw[i] ?? "";
    if (word === "--") return;
    if (!word.startsWith("-") || word === "-") continue;
    const eq = word.indexOf("=");
    const flag = eq > 0 ? word.slice(0, eq) : word;
    const spelling = spellings.get(flag);
    if (!spelling) throw new ArmorError("E_USAGE", `unknown flag ${flag} for "${command}" (${command} --help lists its flags)`);
    if (!spelling.takesValue) {
      const value = eq > 0 ? word.slice(eq + 1) : undefined;
      if (value !== undefined && value !== "true" && value !== "false") throw new ArmorError("E_USAGE", `${flag} takes no value, got "${value}"`);
      continue;
    }
    if (eq > 0) continue;
    const next = raw[i + 1];
    if (next === undefined || (next.startsWith("-") && next !== "-")) throw new ArmorError("E_USAGE", `${flag} needs a value`);
    i += 1;
  }
}

/** A command with its name path (`armor-agent list`) and parent, as the user typed it. */
interface Resolved {
  cmd: CommandDef;
  path: string;
  parent: CommandDef | undefined;
  rest: string[];
}

async function resolveCommand(main: CommandDef, argv: readonly string[]): Promise<Resolved> {
  let cmd = main;
  let parent: CommandDef | undefined;
  let path = (await resolve(main.meta))?.name ?? "command";
  let rest = [...argv];
  for (;;) {
    const subs = await resolve(cmd.subCommands);
    const first = rest[0];
    if (!subs || first === undefined || first.startsWith("-")) return { cmd, path, parent, rest };
    const sub = await resolve(subs[first]);
    if (!sub) throw new ArmorError("E_USAGE", `unknown command "${first}" (${path} --help lists the commands)`);
    parent = cmd;
    cmd = sub;
    path = `${path} ${first}`;
    rest = rest.slice(1);
  }
}

const HELP = new Set(["--help", "-h"]);

/** Runs `main` on `argv` under the contract above; a usage error is one line on stderr and exit 2. */
export async function runCli(main: CommandDef, argv: readonly string[], io: CliIo): Promise<void> {
  const show = (text: string): string => (io.colour ? text : plain(text));
  let resolved: Resolved;
  try {
    resolved = await resolveCommand(main, argv);
    const helpAt = resolved.rest.findIndex((word) => HELP.has(word) || word === "--");
    if (helpAt >= 0 && resolved.rest[helpAt] !== "--") {
      io.out(`${show(await renderUsage(resolved.cmd, resolved.parent))}\n`);
      return io.exit(0);
    }
    if (resolved.cmd === main && resolved.rest.length === 1 && (resolved.rest[0] === "--version" || resolved.rest[0] === "-v")) {
      io.out(`${(await resolve(main.meta))?.version ?? "unknown"}\n`);
      return io.exit(0);
    }
    if (!resolved.cmd.run) {
      if (resolved.rest.length > 0) checkFlags(resolved.path, {}, resolved.rest);
      throw new ArmorError("E_USAGE", `${resolved.path} needs a command (${resolved.path} --help lists them)`);
    }
    checkFlags(resolved.path, (await resolve(resolved.cmd.args)) ?? {}, resolved.rest);
    await runCommand(resolved.cmd, { rawArgs: resolved.rest });
  } catch (err) {
    // citty's own complaints (a missing positional, an enum value not among its options) are usage errors too.
    const usage = err instanceof ArmorError ? err.code === "E_USAGE" : err instanceof Error && err.name === "CLIError";
    if (!usage) throw err;
    io.err(`${(await resolve(main.meta))?.name ?? "command"}: E_USAGE: ${plain((err as Error).message)}\n`);
    return io.exit(2);
  }
}

/** The command tree as completion needs it: each command's path, its subcommands and its flags. */
interface CompletionNode {
  path: string[];
  subcommands: string[];
  flags: Array<{ spelled: string; values: readonly string[] | "file" | "any" | null }>;
}

async function completionNodes(cmd: CommandDef, path: string[]): Promise<CompletionNode[]> {
  const subs = (await resolve(cmd.subCommands)) ?? {};
  const args = (await resolve(cmd.args)) ?? {};
  const flags: CompletionNode["flags"] = [];
  for (const [spelled, spelling] of flagSpellings(args)) {
    const def = args[spelling.name];
    let values: CompletionNode["flags"][number]["values"] = null;
    if (def?.type === "enum") values = def.options ?? [];
    else if (spelling.takesValue) values = def && "valueHint" in def && /PATH|FILE|DIR/.test(def.valueHint ?? "") ? "file" : "any";
    flags.push({ spelled, values });
  }
  flags.push({ spelled: "--help", values: null });
  const nodes: CompletionNode[] = [{ path, subcommands: Object.keys(subs), flags }];
  for (const [name, sub] of Object.entries(subs)) {
    const resolved = await resolve(sub);
    if (resolved) nodes.push(...(await completionNodes(resolved, [...path, name])));
  }
  return nodes;
}

const shellWord = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;

/** A bash completion script for `main`, generated from its commands and their args tables. */
export async function bashCompletion(main: CommandDef): Promise<string> {
  const name = (await resolve(main.meta))?.name ?? "command";
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, "_")}_complete`;
  const nodes = await completionNodes(main, []);
  const cases = nodes.map((node) => {
    const valueCases = node.flags
      .filter((flag) => flag.values !== null)
      .map((flag) => {
        const action =
          flag.values === "file"
            ? `COMPREPLY=($(compgen -f -- "$cur"))`
            : flag.values === "any"
              ? "COMPREPLY=()"
              : `COMPREPLY=($(compgen -W ${shellWord((flag.values as readonly string[]).join(" "))} -- "$cur"))`;
        return `        ${shellWord(flag.spelled)}) ${action}; return ;;`;
      });
    const words = [...node.subcommands, ...node.flags.map((flag) => flag.spelled)].join(" ");
    return [
      `    ${shellWord(node.path.join(" "))})`,
      ...(valueCases.length > 0 ? ['      case "$prev" in', ...valueCases, "      esac"] : []),
      `      COMPREPLY=($(compgen -W ${shellWord(words)} -- "$cur")) ;;`,
    ].join("\n");
  });
  return `# bash completion for ${name}, generated from its commands: source <(${name} completion bash)
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path="" i word
  # The command path: the words before the cursor naming subcommands, not flags or their values.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "$word" in -*) continue ;; esac
    case " $(${fn}_subcommands "$path") " in *" $word "*) path="\${path:+$path }$word" ;; esac
  done
  case "$path" in
${cases.join("\n")}
  esac
}
${fn}_subcommands() {
  case "$1" in
${nodes.map((node) => `    ${shellWord(node.path.join(" "))}) echo ${shellWord(node.subcommands.join(" "))} ;;`).join("\n")}
  esac
}
complete -o default -F ${fn} ${name}
`;
}
