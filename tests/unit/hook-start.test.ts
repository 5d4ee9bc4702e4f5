/**
 * What the hook loads at start: the modules its entry imports statically (the chunks of a
 * --splitting build the entry reaches without a dynamic import) build no schema the healthy
 * path does not parse, and hold none of the full path's code. A module added to the fast path's
 * imports that pulls lib/container.ts or lib/wire/messages.ts back in fails here, not only in
 * bench:hook's figures.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "../..");

/** The text of every chunk reached from the entry by static imports. */
async function startChunks(): Promise<string> {
  const build = await Bun.build({ entrypoints: [join(ROOT, "hook.ts")], splitting: true, target: "bun", format: "esm", minify: false });
  if (!build.success) throw new Error(build.logs.join("\n"));
  const byName = new Map(await Promise.all(build.outputs.map(async (o) => [o.path.replace(/^\.\//, ""), await o.text()] as const)));
  const entry = build.outputs.find((o) => o.kind === "entry-point");
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    // Static imports only: `import ... from "./chunk.js"` at the top, not `import("./chunk.js")`.
    for (const [, dep] of (byName.get(name) ?? "").matchAll(/^import\s[^;]*?from\s*"\.\/([^"]+)"/gm)) if (dep) visit(dep);
  };
  visit((entry?.path ?? "").replace(/^\.\//, ""));
  return [...seen].map((name) => byName.get(name) ?? "").join("\n");
}

test("the hook's start builds none of the record's or the protocol's schemas, and loads no full path", async () => {
  const text = await startChunks();
  // Sanity: the fast path is there.
  expect(text).toContain("fastHook");
  for (const marker of [
    "container id is empty", // lib/container.ts's schemas
    "bootstrap-begin", // lib/wire/messages.ts's schemas
    "AgentClient", // lib/client.ts
    "runHook", // lib/hook/run.ts
  ]) {
    expect({ marker, found: text.includes(marker) }).toEqual({ marker, found: false });
  }
});
