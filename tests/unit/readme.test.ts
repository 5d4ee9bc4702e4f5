/** What README.md says of the code, held to the code: its map names every lib/ module; its armor-hook synopsis every hook flag. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { HOOK_FLAGS } from "../../lib/hook/args.ts";

const ROOT = join(import.meta.dir, "../..");

/** The lib/ modules the map lists: `lib/DIR/ (…)` heads a group, an indented `NAME.ts  purpose` is one module. */
function mapped(readme: string): string[] {
  const start = readme.indexOf("## Map of the code");
  const block = readme.slice(start, readme.indexOf("\n## ", start + 1));
  const modules: string[] = [];
  let group = "lib/";
  for (const line of block.split("\n")) {
    const head = /^(lib\/(?:[\w-]+\/)?) /.exec(line);
    if (head) group = head[1] as string;
    const module = /^ {2}([\w./-]+\.ts) {2,}\S/.exec(line);
    if (module) modules.push(group + module[1]);
  }
  return modules;
}

describe("README's map of the code", () => {
  test("lists every lib/ module once, with a purpose, and no module that does not exist", async () => {
    const readme = await Bun.file(join(ROOT, "README.md")).text();
    const tree = [...new Bun.Glob("lib/**/*.ts").scanSync({ cwd: ROOT })].sort();
    const listed = mapped(readme);
    expect(listed.length).toBe(new Set(listed).size);
    expect([...listed].sort()).toEqual(tree);
  });
});

describe("README's armor-hook synopsis", () => {
  test.each(Object.values(HOOK_FLAGS).map((flag) => [flag.name, "hint" in flag ? flag.hint : undefined] as const))("names %s", async (name, hint) => {
    const readme = await Bun.file(join(ROOT, "README.md")).text();
    const start = readme.indexOf("## armor-hook");
    const open = readme.indexOf("```\n", start) + 4;
    const synopsis = readme.slice(open, readme.indexOf("```\n", open));
    expect(synopsis).toContain(hint === undefined ? name : `${name} ${hint}`);
  });
});
