/**
 * What README.md says of the code, held to the code: its map names every lib/ module; its armor-hook
 * synopsis every hook flag; its failure modes one row per fault, each naming tests that exist.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
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

/** Test files a "proved by" cell names: `unit NAME` is tests/unit/NAME.test.ts, `e2e [cri] NAME` tests/e2e/[cri/]NAME.test.ts. */
function testFiles(kind: string, name: string): string[] {
  const dirs = kind === "unit" ? ["tests/unit"] : kind === "e2e" ? ["tests/e2e", "tests/e2e/cri"] : ["tests/unit", "tests/e2e"];
  return dirs.map((dir) => join(ROOT, dir, `${name}.test.ts`)).filter((path) => existsSync(path));
}

/** Each row's fault and the places its "proved by" cell names: a test file, and the titles (or fragments of them) quoted after it. */
function failureModes(readme: string): Array<{ fault: string; proofs: Array<{ kind: string; name: string; quoted: string[] }>; bench: string[] }> {
  const start = readme.indexOf("## Failure modes");
  const rows = readme
    .slice(start, readme.indexOf("\n## ", start + 1))
    .split("\n")
    .filter((line) => line.startsWith("| ") && !line.startsWith("| fault |"));
  return rows.map((row) => {
    const cells = row.slice(2, -2).split(" | ");
    const cell = cells[cells.length - 1] as string;
    const proofs: Array<{ kind: string; name: string; quoted: string[] }> = [];
    let kind = "";
    for (const part of cell.split(/;\s*/)) {
      const lead = /^(unit \+ e2e|unit|e2e)\s+/.exec(part);
      if (lead) kind = lead[1] as string;
      for (const token of part.slice(lead?.[0].length ?? 0).match(/"[^"]*"|[^,"\s][^,"]*/g) ?? []) {
        const text = token.startsWith('"') ? token : token.replace(/\([^)]*\)/g, "").trim();
        if (text.startsWith('"')) proofs[proofs.length - 1]?.quoted.push(text.slice(1, -1));
        else if (kind !== "" && text !== "" && !text.startsWith("(") && !text.startsWith("`"))
          proofs.push({ kind, name: text.split(/\s+/).pop() as string, quoted: [] });
      }
    }
    return { fault: cells[0] as string, proofs, bench: [...cell.matchAll(/`bun run (bench[:\w-]*)`/g)].map((m) => m[1] as string) };
  });
}

describe("README's failure modes", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const rows = failureModes(readme);
  const scripts = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;

  test("one row per fault", () => {
    const faults = rows.map((row) => row.fault);
    expect(faults.filter((fault, i) => faults.indexOf(fault) !== i)).toEqual([]);
    expect(rows.length).toBeGreaterThan(30);
  });

  test.each(rows.map((row) => [row.fault.slice(0, 70), row] as const))("%s: names tests that exist", (_fault, row) => {
    expect(row.proofs.length + row.bench.length).toBeGreaterThan(0);
    for (const script of row.bench) expect(Object.keys(scripts)).toContain(script);
    for (const proof of row.proofs) {
      const files = testFiles(proof.kind, proof.name);
      expect({ proof: `${proof.kind} ${proof.name}`, found: files.length > 0 }).toEqual({ proof: `${proof.kind} ${proof.name}`, found: true });
      const text = files.map((file) => readFileSync(file, "utf8").toLowerCase()).join("\n");
      for (const quoted of proof.quoted) {
        const missing = quoted
          .split("…")
          .map((piece) => piece.trim().toLowerCase())
          .filter((piece) => piece !== "" && !text.includes(piece));
        expect({ proof: `${proof.kind} ${proof.name} "${quoted}"`, missing }).toEqual({ proof: `${proof.kind} ${proof.name} "${quoted}"`, missing: [] });
      }
    }
  });
});
