/**
 * The delay a hook adds to `runc run`: a busybox container that exits at once, run in the
 * foreground under a private `--root`, without hooks, with `/bin/true` at createRuntime and
 * poststop (runc's own cost of running a hook), with an empty `bun build --compile` binary (the
 * floor for a hook written in Bun, HOOK_FLAGS) and with armor-hook against a real agent,
 * interleaved in a fresh random order each round.
 *
 *   bun run bench:runc [--runs 30] [--hook dist/armor-hook] [--agent dist/armor-agent] [--json]
 *
 * "start" is `runc run`'s spawn to the container's first command (it stamps CLOCK_MONOTONIC,
 * bench/_clock.ts); "whole" is spawn to exit (create, start, exit, delete with poststop). Fails
 * (exit 1) when a run fails, or the agent did not hold every armor-hook container before it started.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { reapOrphans, setSubreaper } from "../tests/e2e/reaper.ts";
import { BenchAgent } from "./_agent.ts";
import { buildEmptyBinary, installCopy } from "./_fixture.ts";
import { RuncLab } from "./_runc.ts";
import { shuffle, summarize, type Summary } from "./_stats.ts";

const ROOT = resolve(import.meta.dir, "..");
const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "30" },
    agent: { type: "string", default: join(ROOT, "dist/armor-agent") },
    hook: { type: "string", default: join(ROOT, "dist/armor-hook") },
    json: { type: "boolean", default: false },
  },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a whole number >= 1, got "${values.runs}"`);

const dir = mkdtempSync(join(tmpdir(), "armor-runc-delay-"));
setSubreaper(true);
const lab = await RuncLab.create(dir);
let agent: BenchAgent | undefined;
try {
  agent = await BenchAgent.start(values.agent, join(dir, "agent", "armor.sock"), { kind: "events" }, lab.root);
  // Both from cp copies, in the same page-cache state (installCopy).
  const empty = installCopy(dir, await buildEmptyBinary(dir), "empty");
  const hook = installCopy(dir, values.hook, "armor-hook");
  const env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"];
  const entry = (path: string, args: string[] = []) => ({ path, args: [path, ...args], env, timeout: 10 });
  const both = (make: (stage: string) => unknown) => ({ createRuntime: [make("createRuntime")], poststop: [make("poststop")] });
  const socket = agent.socket;
  const kinds = {
    "no hook": undefined,
    "/bin/true": both(() => entry("/bin/true")),
    "empty Bun binary": both(() => entry(empty)),
    "armor-hook": both((stage) => entry(hook, [stage, "--socket", socket, "--timeout-ms", "2000"])),
  } as const;
  type Kind = keyof typeof kinds;
  const names = Object.keys(kinds) as Kind[];
  const series = new Map(names.map((k) => [k, { start: [] as number[], whole: [] as number[] }]));
  const hooked: { id: string; startedNs: bigint }[] = [];
  // One warm-up round, not counted: the first runc run of a session pays for its page cache.
  for (let round = -1; round < runs; round++) {
    for (const kind of shuffle([...names])) {
      const id = `delay-${names.indexOf(kind)}-${round < 0 ? "w" : round}`;
      const ran = await lab.run(id, lab.bundle(id, 0, kinds[kind]));
      const [started] = await lab.stamps(id);
      if (ran.code !== 0 || started === undefined) throw new Error(`${id} (${kind}): runc run exited ${ran.code}`);
      if (kind === "armor-hook") hooked.push({ id, startedNs: started });
      if (round < 0) continue;
      series.get(kind)?.start.push(Number(started - ran.spawnedAtNs) / 1e6);
      series.get(kind)?.whole.push(ran.wallMs);
    }
  }
  // Registration before start is the point of the hook: every armor-hook container was held.
  const missing = hooked.filter(({ id }) => !agent?.firstAdd.has(id));
  if (missing.length > 0) throw new Error(`the agent never held ${missing.length} armor-hook containers, e.g. ${missing[0]?.id}`);

  const summary = Object.fromEntries(
    names.map((k) => [k, { start: summarize(series.get(k)?.start ?? []), whole: summarize(series.get(k)?.whole ?? []) }]),
  ) as Record<Kind, { start: Summary; whole: Summary }>;
  const base = summary["no hook"];
  if (values.json) {
    console.log(JSON.stringify({ runs, summary }, null, 2));
  } else {
    const ms = (x: number) => `${x.toFixed(1)} ms`.padStart(9);
    console.log(`runc run of a container that exits at once: ${runs} runs each (+1 warm-up), interleaved`);
    console.log(
      `${"".padEnd(18)}${"start, median".padStart(15)}${"added".padStart(10)}${"p95".padStart(10)}${"whole, median".padStart(15)}${"added".padStart(10)}`,
    );
    for (const kind of names) {
      const s = summary[kind];
      console.log(
        `${kind.padEnd(18)}${ms(s.start.median).padStart(15)}${ms(s.start.median - base.start.median).padStart(10)}${ms(s.start.p95).padStart(10)}${ms(s.whole.median).padStart(15)}${ms(s.whole.median - base.whole.median).padStart(10)}`,
      );
    }
    const extra = summary["armor-hook"].start.median - summary["empty Bun binary"].start.median;
    console.log(
      `armor-hook adds ${extra.toFixed(1)} ms to the start over the empty Bun binary (target: at most 4 ms); every one of its containers was held before it started`,
    );
  }
} finally {
  await agent?.stop();
  await lab.cleanup();
  rmSync(dir, { recursive: true, force: true });
  await reapOrphans();
  setSubreaper(false);
}
