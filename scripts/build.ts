/**
 * Builds dist/armor-hook and dist/armor-agent as self-contained executables.
 * --no-compile-autoload-*: a runtime runs hooks with the bundle as working
 * directory, and a compiled binary would otherwise read .env/bunfig.toml there.
 */
import { $ } from "bun";

const common = ["--compile", "--minify", "--bytecode", "--format=esm", "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig"];
const targets = [
  ["hook.ts", "dist/armor-hook"],
  ["agent.ts", "dist/armor-agent"],
] as const;

for (const [entry, outfile] of targets) {
  await $`bun build ${entry} ${common} --outfile ${outfile}`.quiet();
  console.log(`built ${outfile}`);
}
