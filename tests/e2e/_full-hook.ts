/**
 * The hook's full path alone (lib/hook/full.ts, as the binary runs it after a handoff from the
 * first instruction, with nothing read yet): tests/e2e/fast-path.test.ts compares its outcomes
 * with the compiled binary's, whose healthy calls take the fast path.
 */
import { runFullHook } from "../../lib/hook/full.ts";
import { VERSION } from "../../lib/version.ts";

const outcome = await runFullHook(process.argv.slice(2), VERSION, { reason: "the full path, for comparison", spentMs: 0 });
if (outcome.stdout) await Bun.write(Bun.stdout, `${outcome.stdout}\n`);
if (outcome.stderr) await Bun.write(Bun.stderr, `${outcome.stderr}\n`);
process.exit(outcome.status);
