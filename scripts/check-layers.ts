/**
 * The layering check (.ci/run, `bun run check:layers`): every relative import of
 * hook.ts, agent.ts and lib/ is read, and the build fails when
 * - lib/hook imports lib/agent or lib/agent imports lib/hook (each binary's own code
 *   stays its own: the hook never loads the agent's, nor the agent the hook's);
 * - shared lib/ (anything outside lib/hook and lib/agent) imports either;
 * - lib/ imports an entry file (hook.ts, agent.ts);
 * - any import cycle exists.
 * `import type` counts: a type-only edge still couples the layers.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const ROOT = join(import.meta.dir, "..");
const ENTRIES = ["hook.ts", "agent.ts"];

type Layer = "hook" | "agent" | "shared" | "entry";

function layerOf(file: string): Layer {
  if (ENTRIES.includes(file)) return "entry";
  if (file.startsWith("lib/hook/")) return "hook";
  if (file.startsWith("lib/agent/")) return "agent";
  return "shared";
}

/** Which layers a module of `from` may import. */
const ALLOWED: Record<Layer, readonly Layer[]> = {
  entry: ["hook", "agent", "shared"],
  hook: ["hook", "shared"],
  agent: ["agent", "shared"],
  shared: ["shared"],
};

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

// Static `import … from "./x"`, `export … from "./x"`, and dynamic `import("./x")`.
const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*["'](\.[^'"]+)["']|import\(\s*["'](\.[^'"]+)["']\s*\)/gm;

/** The relative imports of each file, as repository paths. */
export function importGraph(files: readonly string[], read: (file: string) => string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const targets: string[] = [];
    for (const match of read(file).matchAll(IMPORT)) {
      const spec = match[1] ?? match[2];
      if (spec !== undefined) targets.push(normalize(join(dirname(file), spec)));
    }
    graph.set(file, targets);
  }
  return graph;
}

/** Every violation of the layering, one line each. */
export function layerViolations(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const problems: string[] = [];
  for (const [file, targets] of graph) {
    for (const target of targets) {
      if (!graph.has(target)) {
        problems.push(`${file}: imports ${target}, which does not exist`);
        continue;
      }
      const from = layerOf(file);
      const to = layerOf(target);
      if (!ALLOWED[from].includes(to)) problems.push(`${file}: ${from} code imports ${to} code (${target})`);
    }
  }
  // Cycles: depth-first search, reporting each back edge's cycle once.
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, "open");
    stack.push(file);
    for (const target of graph.get(file) ?? []) {
      if (!graph.has(target)) continue;
      const seen = state.get(target);
      if (seen === "open") problems.push(`import cycle: ${[...stack.slice(stack.indexOf(target)), target].join(" → ")}`);
      else if (seen === undefined) visit(target);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return problems;
}

if (import.meta.main) {
  const files = [...ENTRIES, ...sources("lib")].map((file) => relative(ROOT, join(ROOT, file)));
  const problems = layerViolations(importGraph(files, (file) => readFileSync(join(ROOT, file), "utf8")));
  for (const problem of problems) console.error(`check-layers: ${problem}`);
  if (problems.length > 0) process.exit(1);
  console.log(`check-layers: ${files.length} files, layers and no cycles`);
}
