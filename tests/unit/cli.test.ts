/** The CLI contract (lib/agent/cli.ts): strict flags derived from each args table, colour, help, completion. */
import { describe, expect, test } from "bun:test";
import { defineCommand, type ArgsDef } from "citty";
import { bashCompletion, checkFlags, flagSpellings, runCli, wantsColour, type CliIo } from "../../lib/agent/cli.ts";
import { ArmorError } from "../../lib/errors.ts";
import { tempDir } from "./_fixtures.ts";

/** A table like the agent's, with an alias the way a renamed flag keeps its old name (fresh each time: citty adds to it). */
const table = () =>
  ({
    id: { type: "positional", required: false, description: "container id" },
    socket: { type: "string", default: "/run/armor/armor.sock", valueHint: "PATH", description: "agent socket" },
    "timeout-ms": { type: "string", alias: ["timeout"], valueHint: "N", description: "give up after N ms" },
    json: { type: "boolean", default: false, description: "print JSON" },
    "log-level": { type: "enum", options: ["debug", "info"], default: "info", description: "level" },
    verbose: { type: "boolean", alias: "V", description: "more" },
  }) satisfies ArgsDef;

function usageError(raw: string[]): string {
  try {
    checkFlags("armor-agent list", table(), raw);
  } catch (err) {
    if (err instanceof ArmorError && err.code === "E_USAGE") return err.message;
    throw err;
  }
  throw new Error(`accepted: ${raw.join(" ")}`);
}

describe("checkFlags()", () => {
  test.each([
    [["--socket", "/s"]],
    [["--socket=/s"]],
    [["--timeout-ms", "5"]],
    [["--timeout", "5"]],
    [["--timeout=5"]],
    [["--json"]],
    [["--no-json"]],
    [["--json=false"]],
    [["--log-level", "debug"]],
    [["-V"]],
    [["--verbose", "--no-verbose"]],
    [["abc", "--json", "def"]],
    [["--", "--not-a-flag", "-o"]],
    [["-"]],
  ])("accepts %j: every spelling the table declares", (raw) => {
    expect(() => checkFlags("armor-agent list", table(), raw)).not.toThrow();
  });

  test.each([
    [["-o", "json"], "unknown flag -o"],
    [["--output=json"], "unknown flag --output"],
    [["--jsn"], "unknown flag --jsn"],
    [["--socketx", "/s"], "unknown flag --socketx"],
    [["--logLevel", "debug"], "unknown flag --logLevel"],
    [["--no-socket"], "unknown flag --no-socket"],
    [["-j"], "unknown flag -j"],
    [["--id", "x"], "unknown flag --id"],
  ])("rejects %j as an unknown flag, naming it", (raw, expected) => {
    const message = usageError(raw);
    expect(message).toContain(expected);
    expect(message).toContain("armor-agent list --help");
  });

  test.each([
    [["--socket"], "--socket needs a value"],
    [["--socket", "--json"], "--socket needs a value"],
    [["--timeout"], "--timeout needs a value"],
    [["--json=yes"], '--json takes no value, got "yes"'],
  ])("rejects %j: %s", (raw, message) => {
    expect(usageError(raw)).toBe(message);
  });
});

describe("flagSpellings()", () => {
  test("derives every spelling from the table: names, aliases, one-letter aliases as -x, --no- for booleans", () => {
    expect([...flagSpellings(table()).keys()].sort()).toEqual(
      ["--socket", "--timeout-ms", "--timeout", "--json", "--no-json", "--log-level", "--verbose", "--no-verbose", "-V"].sort(),
    );
  });
});

describe("wantsColour()", () => {
  test.each([
    [{}, true, true],
    [{}, false, false],
    [{ NO_COLOR: "1" }, true, false],
    [{ NO_COLOR: "yes" }, true, false],
    [{ NO_COLOR: "" }, true, true],
    [{ TERM: "dumb" }, true, false],
    [{ TERM: "xterm-256color" }, true, true],
  ])("env %j, terminal %p: %p", (env, terminal, colour) => {
    expect(wantsColour(env, terminal)).toBe(colour);
  });
});

/** A CLI run with recorded output; exit throws to stop the run where a process would end. */
async function cli(argv: string[], colour = false): Promise<{ out: string; err: string; status: number | null; ran: unknown[] }> {
  const ran: unknown[] = [];
  const main = defineCommand({
    meta: { name: "tool", version: "9.9.9", description: "a tool" },
    subCommands: {
      list: defineCommand({ meta: { name: "list", description: "list things" }, args: table(), run: ({ args }) => void ran.push({ ...args }) }),
      group: defineCommand({
        meta: { name: "group", description: "nested" },
        subCommands: { leaf: defineCommand({ meta: { name: "leaf" }, args: { n: { type: "string" } }, run: ({ args }) => void ran.push(args.n) }) },
      }),
    },
  });
  let out = "";
  let err = "";
  let status: number | null = null;
  class Exit extends Error {}
  const io: CliIo = {
    out: (text) => void (out += text),
    err: (text) => void (err += text),
    exit: (code) => {
      status = code;
      throw new Exit();
    },
    colour,
  };
  try {
    await runCli(main, argv, io);
  } catch (e) {
    if (!(e instanceof Exit)) throw e;
  }
  return { out, err, status, ran };
}

describe("runCli()", () => {
  test("runs the command when every flag is known", async () => {
    const result = await cli(["list", "--json", "--timeout", "7", "abc"]);
    expect(result.status).toBeNull();
    expect(result.ran).toMatchObject([{ json: true, "timeout-ms": "7", id: "abc" }]);
  });

  test.each([
    [["list", "-o", "json"], 'tool: E_USAGE: unknown flag -o for "tool list" (tool list --help lists its flags)\n'],
    [["lst"], 'tool: E_USAGE: unknown command "lst" (tool --help lists the commands)\n'],
    [[], "tool: E_USAGE: tool needs a command (tool --help lists them)\n"],
    [["group"], "tool: E_USAGE: tool group needs a command (tool group --help lists them)\n"],
    [["group", "leaf", "--m", "1"], 'tool: E_USAGE: unknown flag --m for "tool group leaf" (tool group leaf --help lists its flags)\n'],
    [["list", "--log-level", "loud"], "tool: E_USAGE: Invalid value for argument: --log-level (loud). Expected one of: debug, info.\n"],
  ])("%j is a usage error: one line, exit 2, nothing run", async (argv, line) => {
    const result = await cli(argv);
    expect(result).toMatchObject({ status: 2, out: "", err: line, ran: [] });
  });

  test("nested commands are resolved and checked too", async () => {
    expect((await cli(["group", "leaf", "--n", "5"])).ran).toEqual(["5"]);
  });

  test("--help prints the usage of the command named, exit 0, even beside an unknown flag", async () => {
    const result = await cli(["list", "--bogus", "--help"]);
    expect(result.status).toBe(0);
    expect(result.out).toContain("USAGE tool list");
    expect(result.out).toContain("--timeout-ms=<N>");
  });

  test("usage is plain text unless colour is wanted", async () => {
    expect((await cli(["list", "--help"])).out).not.toContain("\u001b[");
    // citty colours unless NO_COLOR=1/CI/TEST is in the environment it was loaded in.
    const coloured = await cli(["list", "--help"], true);
    if (!process.env.CI && !process.env.TEST && process.env.NO_COLOR !== "1" && process.env.TERM !== "dumb") expect(coloured.out).toContain("\u001b[");
  });

  test("--version prints the version", async () => {
    expect(await cli(["--version"])).toMatchObject({ status: 0, out: "9.9.9\n" });
  });
});

describe("bashCompletion()", () => {
  const main = defineCommand({
    meta: { name: "armor-agent" },
    subCommands: {
      list: defineCommand({ meta: { name: "list" }, args: table(), run: () => {} }),
      watch: defineCommand({ meta: { name: "watch" }, args: { json: { type: "boolean" } }, run: () => {} }),
    },
  });

  /** What bash's completion function offers for the words typed so far (the last one is being completed). */
  async function complete(words: string[]): Promise<string[]> {
    const dir = tempDir();
    try {
      const script = `${dir.dir}/completion.bash`;
      await Bun.write(script, await bashCompletion(main));
      const cword = words.length - 1;
      const array = words.map((word) => `'${word}'`).join(" ");
      const probe = `source ${script}; COMP_WORDS=(${array}); COMP_CWORD=${cword}; _armor_agent_complete; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const proc = Bun.spawn(["bash", "--norc", "--noprofile", "-c", probe], { stdout: "pipe", stderr: "pipe", cwd: dir.dir });
      const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      if (code !== 0) throw new Error(`bash: ${err}`);
      return out.split("\n").filter((line) => line !== "");
    } finally {
      dir.remove();
    }
  }

  test("offers the commands, then the flags of the command typed, from its args table", async () => {
    expect(await complete(["armor-agent", ""])).toEqual(["list", "watch", "--help"]);
    expect(await complete(["armor-agent", "wa"])).toEqual(["watch"]);
    expect(await complete(["armor-agent", "list", "--t"])).toEqual(["--timeout-ms", "--timeout"]);
    expect(await complete(["armor-agent", "watch", "--"])).toEqual(["--json", "--no-json", "--help"]);
  });

  test("offers an enum flag's values, and nothing for a free value", async () => {
    expect(await complete(["armor-agent", "list", "--log-level", ""])).toEqual(["debug", "info"]);
    expect(await complete(["armor-agent", "list", "--timeout-ms", ""])).toEqual([]);
  });
});
