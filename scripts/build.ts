/**
 * Builds dist/armor-hook and dist/armor-agent as self-contained executables.
 * --no-compile-autoload-*: a runtime runs hooks with the bundle as working
 * directory, and a compiled binary would otherwise read .env/bunfig.toml there.
 */
import { $ } from "bun";

/** The `bun build` flags of both binaries. */
export const COMPILE_FLAGS = ["--compile", "--minify", "--bytecode", "--format=esm", "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig"];

/**
 * The hook's start-up is on every container's critical path (bench/README.md has the figures):
 * --splitting puts `armor-hook bootstrap` in a chunk of its own, so its node:fs and node:path
 * are loaded only on that path (an ESM bundle hoists them to the top otherwise); and a one-shot
 * process never repays JIT compiling, so tier-up thresholds are scaled out of reach.
 * bench/hook-latency.ts builds its empty floor binary with these flags too.
 */
export const HOOK_FLAGS = [...COMPILE_FLAGS, "--splitting", "--compile-jit-policy=100"];

const targets = [
  ["hook.ts", "dist/armor-hook", HOOK_FLAGS],
  ["agent.ts", "dist/armor-agent", COMPILE_FLAGS],
] as const;

if (import.meta.main) {
  for (const [entry, outfile, flags] of targets) {
    await $`bun build ${entry} ${flags} --outfile ${outfile}`.quiet();
    console.log(`built ${outfile}`);
  }
}
