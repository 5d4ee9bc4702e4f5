/** Types, machine description and the printed tables of bench/poll-vs-events.ts. */
import { cpus, loadavg, release } from "node:os";
import type { Summary } from "./_stats.ts";
import { summarize } from "./_stats.ts";

/** Durations of one kind of `runc run`, ms. */
export interface DelaySeries {
  start: Summary;
  wall: Summary;
}

/** What one agent mode measured. */
export interface ModeResult {
  mode: string;
  idleCpuPerMin: number;
  churnCpuPerMin: number;
  churnRuns: number;
  /** Churn containers the agent held at some point (their gap is in `gaps`). */
  churnSeen: number;
  /** Monitoring gap of each churn container seen, ms (upper bound). */
  gaps: number[];
  short: Array<{ nominalMs: number; livedMs: number; runs: number; seen: number; gaps: number[] }>;
}

/** Everything one run measured. */
export interface Report {
  machine: { cores: number; cpu: string; kernel: string; bun: string; runc: string; summary: string };
  config: Record<string, number>;
  /** `runc run` spawn → first command (`start`) and spawn → exit (`wall`), without hooks, with `/bin/true` hooks, with armor-hook. */
  delay: { none: DelaySeries; trueHook: DelaySeries; hook: DelaySeries; gaps: number[] };
  modes: ModeResult[];
  throughput: Array<{ hook: boolean; containers: number; perSecond: number; registered: number; agentCpuMsEach: number }>;
  seconds: number;
  /** 1-minute load average before and after the run: other work on the machine shows here. */
  load: [number, number];
}

/** The machine the figures come from. */
export function machine(): Report["machine"] {
  const runc =
    Bun.spawnSync(["runc", "--version"])
      .stdout.toString()
      .split("\n")[0]
      ?.replace(/^runc version /, "") ?? "?";
  const cpu = cpus()[0]?.model.trim() ?? "?";
  const m = { cores: cpus().length, cpu, kernel: release(), bun: Bun.version, runc };
  return { ...m, summary: `${m.cores} cores (${cpu}), Linux ${m.kernel}, bun ${m.bun}, runc ${runc}` };
}

const ms = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : "–");
const signed = (x: number): string => (x >= 0 ? `+${ms(x)}` : ms(x));
const pct = (part: number, whole: number): string => `${((100 * part) / whole).toFixed(0)}% (${part}/${whole})`;
const cpuText = (s: number): string => (s < 0.01 ? "< 0.01 s" : `${s.toFixed(2)} s`);

/** The 1-minute load average now. */
export const load1 = (): number => loadavg()[0] ?? Number.NaN;

/** Every events-mode container (churn, short-lived, start-delay runs) and how many were held before their process started: all must be. */
export function eventsProof(report: Report): { containers: number; negative: number; max: number } {
  const events = report.modes[0];
  const gaps = [...(events?.gaps ?? []), ...(events?.short.flatMap((s) => s.gaps) ?? []), ...report.delay.gaps];
  const runs = (events?.churnRuns ?? 0) + (events?.short.reduce((n, s) => n + s.runs, 0) ?? 0);
  // A container never held has no gap, so it is not counted as negative either.
  return { containers: runs + report.delay.gaps.length, negative: gaps.filter((g) => g < 0).length, max: Math.max(...gaps) };
}

/** Prints the comparison as Markdown tables. */
export function printReport(r: Report): void {
  const out = (line = ""): void => console.log(line);
  out(`Machine: ${r.machine.summary}. Run took ${r.seconds.toFixed(0)} s; load average ${r.load[0].toFixed(2)} before, ${r.load[1].toFixed(2)} after.`);
  out();
  out("| | " + r.modes.map((m) => m.mode).join(" | ") + " |");
  out("|---|" + r.modes.map(() => "---").join("|") + "|");
  const row = (label: string, cell: (m: ModeResult) => string): void => out(`| ${label} | ${r.modes.map(cell).join(" | ")} |`);
  const gap = (m: ModeResult): Summary => summarize(m.gaps);
  row("monitoring gap, median", (m) => ms(gap(m).median));
  row("monitoring gap, p95", (m) => ms(gap(m).p95));
  row("monitoring gap, max", (m) => ms(gap(m).max));
  row(`churn containers held (${r.config.rate}/s, 1 s each)`, (m) => pct(m.churnSeen, m.churnRuns));
  for (const [i, s] of (r.modes[0]?.short ?? []).entries()) {
    row(`never seen, process lives ~${s.nominalMs} ms (measured ${s.livedMs.toFixed(0)} ms)`, (m) => {
      const x = m.short[i];
      return x ? pct(x.runs - x.seen, x.runs) : "–";
    });
  }
  row(`agent CPU per minute, idle (${r.config.background} containers)`, (m) => cpuText(m.idleCpuPerMin));
  row(`agent CPU per minute, churn ${r.config.rate}/s`, (m) => cpuText(m.churnCpuPerMin));
  out();
  const proof = eventsProof(r);
  out(`Events: ${proof.negative} of ${proof.containers} containers held before their process started (largest gap ${ms(proof.max)}).`);
  out();
  out("| `runc run`, container exits at once | without hook | `/bin/true` hook | armor-hook | added by armor-hook |");
  out("|---|---|---|---|---|");
  const { none, trueHook, hook } = r.delay;
  const line = (label: string, pick: (d: DelaySeries) => number): void =>
    out(`| ${label} | ${ms(pick(none))} | ${ms(pick(trueHook))} | ${ms(pick(hook))} | ${signed(pick(hook) - pick(none))} |`);
  line("spawn → container's first command, median", (d) => d.start.median);
  line("spawn → container's first command, p95", (d) => d.start.p95);
  line("whole `runc run` (create, start, exit, delete), median", (d) => d.wall.median);
  out();
  for (const t of r.throughput) {
    out(
      `Throughput ${t.hook ? "with the hook" : "without hooks"}: ${t.perSecond.toFixed(1)} containers/s (${t.containers} containers, ${r.config.concurrency} at once), ${t.registered} registered, agent CPU ${t.agentCpuMsEach.toFixed(2)} ms per container.`,
    );
  }
}
