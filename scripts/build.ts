/**
 * Builds dist/armor-hook and dist/armor-agent as self-contained executables.
 * --no-compile-autoload-*: a runtime runs hooks with the bundle as working
 * directory, and a compiled binary would otherwise read .env/bunfig.toml there.
 */
import { $ } from "bun";
import { patchRuntimeEnv, type PatchReport } from "./runtime-env.ts";

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

/**
 * Every environment variable name the embedded runtime reads is made inert after compiling:
 * scripts/runtime-env.ts holds the table (erased, or kept and why) and fails the build on a
 * name nobody classified. Our own bundle's strings are never touched.
 */
export async function patchBinary(path: string): Promise<PatchReport> {
  const binary = new Uint8Array(await Bun.file(path).arrayBuffer());
  const report = patchRuntimeEnv(binary);
  await Bun.write(path, binary);
  return report;
}

const targets = [
  ["hook.ts", "dist/armor-hook", HOOK_FLAGS],
  ["agent.ts", "dist/armor-agent", COMPILE_FLAGS],
] as const;

if (import.meta.main) {
  for (const [entry, outfile, flags] of targets) {
    await $`bun build ${entry} ${flags} --outfile ${outfile}`.quiet();
    const { erased } = await patchBinary(outfile);
    console.log(`built ${outfile} (${erased.size} runtime environment names erased, BUN_JSC_* off)`);
  }
}
