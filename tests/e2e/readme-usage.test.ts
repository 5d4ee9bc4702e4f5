/** README.md's armor-agent synopsis, held to the compiled binary's --help: every command and every flag it prints. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { AGENT, ROOT, run } from "./support.ts";

/** The synopsis block of README's armor-agent section, as one text per command (its line and the indented ones after it). */
async function synopsis(): Promise<Map<string, string>> {
  const readme = await Bun.file(join(ROOT, "README.md")).text();
  const start = readme.indexOf("\n## armor-agent\n");
  const open = readme.indexOf("```\n", start) + 4;
  const byCommand = new Map<string, string>();
  let command = "";
  for (const line of readme.slice(open, readme.indexOf("```\n", open)).split("\n")) {
    const head = /^armor-agent (\S+)/.exec(line);
    if (head) command = head[1] as string;
    byCommand.set(command, `${byCommand.get(command) ?? ""}${line}\n`);
  }
  return byCommand;
}

/** The flags a command's --help prints, without the hook options `nri` passes through to armor-hook (README: "armor-hook's options"). */
async function flagsOf(command: string): Promise<string[]> {
  const help = (await run([AGENT, command, "--help"], { env: { PATH: "/usr/bin:/bin", NO_COLOR: "1" } })).stdout;
  return help
    .split("\n")
    .filter((line) => !line.includes("[hook entry]"))
    .flatMap((line) => {
      const flag = /(?:^|[\s,])(--[a-z][a-z-]*)/.exec(line)?.[1];
      return flag === undefined ? [] : [flag];
    });
}

const HELP = (await run([AGENT, "--help"], { env: { PATH: "/usr/bin:/bin", NO_COLOR: "1" } })).stdout;
const COMMANDS = (/USAGE armor-agent (\S+)/.exec(HELP)?.[1] ?? "").split("|");
const SYNOPSIS = await synopsis();

describe("README's armor-agent synopsis", () => {
  test("lists every command --help lists", () => {
    expect([...SYNOPSIS.keys()].filter((c) => c !== "[COMMAND]" && c !== "")).toEqual(expect.arrayContaining(COMMANDS));
  });

  test.each(COMMANDS)("names every flag of %s --help", async (command) => {
    const written = SYNOPSIS.get(command) ?? "";
    const missing = (await flagsOf(command)).filter((flag) => flag !== "--help" && !written.includes(flag));
    expect(missing).toEqual([]);
  });
});
