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

/**
 * Environment variables the embedded Bun runtime obeys before any of our code runs, and
 * no build flag turns off: BUN_BE_BUN makes the binary the `bun` CLI (which would run a
 * script named like the hook's stage from the bundle directory), BUN_OPTIONS adds
 * `--preload` and the like, BUN_INSPECT* opens a debugger. A runtime may hand its own
 * environment to a hook, so their names are erased from the runtime's string table: a
 * name starting with a NUL byte matches no environment variable. install.sh's hooks.d check
 * is a subcommand of the agent (`armor-agent check-hooks`), so neither binary needs them.
 */
export const ERASED_ENV_NAMES = {
  hook: ["BUN_BE_BUN", "BUN_OPTIONS", "BUN_INSPECT"],
  agent: ["BUN_BE_BUN", "BUN_OPTIONS", "BUN_INSPECT"],
} as const;

/** Erases `names` in a compiled binary; throws if one is missing (a Bun that reads them otherwise). */
export async function eraseRuntimeEnvNames(path: string, names: readonly string[]): Promise<void> {
  const binary = Buffer.from(await Bun.file(path).arrayBuffer());
  for (const name of names) {
    const needle = Buffer.from(name);
    let found = 0;
    for (let at = binary.indexOf(needle); at >= 0; at = binary.indexOf(needle, at + 1)) {
      binary[at] = 0;
      found += 1;
    }
    if (found === 0) throw new Error(`${path}: ${name} not found in the embedded runtime; check how this Bun reads it before shipping`);
  }
  await Bun.write(path, binary);
}

const targets = [
  ["hook.ts", "dist/armor-hook", HOOK_FLAGS, ERASED_ENV_NAMES.hook],
  ["agent.ts", "dist/armor-agent", COMPILE_FLAGS, ERASED_ENV_NAMES.agent],
] as const;

if (import.meta.main) {
  for (const [entry, outfile, flags, erased] of targets) {
    await $`bun build ${entry} ${flags} --outfile ${outfile}`.quiet();
    await eraseRuntimeEnvNames(outfile, erased);
    console.log(`built ${outfile}`);
  }
}
