/**
 * The hook's healthy path, synchronous from start to exit: no event loop, no thread pool, no
 * timer (bench/README.md has what each costs). It does what runHook() does when all goes well
 * — the same request, the same answer checks, the same log line — and nothing else: bad input,
 * an unreachable or slow agent, an agent that refuses, the agent's own container, --help: it
 * hands the call to runHook() (lib/hook/run.ts, a chunk loaded only then) with what it already
 * read and the time it spent, so the policy, the spool and the failure lines live in one place.
 */
import { describeWith } from "../describe.ts";
import { configPath, MAX_CONFIG_BYTES, parseBundleConfig, unreadableConfig, type BundleConfig } from "../oci/bundle.ts";
import { MAX_STATE_BYTES, parseState, resolveStage, type Stage } from "../oci/state.ts";
import { readCgroupSync } from "../proc/cgroup.ts";
import { readNamespaces } from "../proc/namespaces.ts";
import { checkRegisterAnswer, checkUnregisterAnswer, hookRequestFrame, prepareAnswerChecks } from "../wire/hook-call.ts";
import { logSettings, readHookArgs, type HookArgs } from "./args.ts";
import { agentShare, hookBudget } from "./budget.ts";
import { isAgentContainer } from "./agent-container.ts";
import { agentLog, noteIdentity, type CallFacts, type Decision } from "./log-call.ts";
import type { SyncIo } from "./sync-io.ts";

/** What the fast path read before it handed over (runHook()'s `already`). */
export interface Handoff {
  /** Why it handed over, for tests. */
  reason: string;
  stdin?: string;
  config?: { path: string; text: string };
  spentMs: number;
}

/** A healthy call, for the log; or the call handed over. */
export type FastResult = { decision: Decision; facts: CallFacts; args: HookArgs } | { handoff: Handoff };

const decoder = new TextDecoder();
/** Largest answer the hook reads (as the full path's client). */
const MAX_ANSWER_BYTES = 1024 * 1024;

/** Runs the healthy path; never throws (anything thrown is a handoff). */
export function fastHook(argv: readonly string[], io: SyncIo): FastResult {
  const read: { stdin?: string; config?: { path: string; text: string } } = {};
  const handoff = (reason: string): FastResult => ({ handoff: { reason, ...read, spentMs: io.now() } });
  try {
    const { args, error } = readHookArgs(argv);
    if (error || args.help || args.version) return handoff(error ? "usage" : "help or version");
    const budget = hookBudget(args.timeoutMs, logSettings(args) !== null, 0);
    const stdin = io.readStdin(MAX_STATE_BYTES, budget.budgetMs);
    if (!stdin.ended) return handoff("stdin did not end in time");
    read.stdin = stdin.text;
    if (stdin.text.length > MAX_STATE_BYTES) return handoff("state too large");
    const state = parseState(stdin.text);
    const stage: Stage = resolveStage(state, args.stage);
    const facts: CallFacts = { stage, containerId: state.id, phase: "asking the agent" };
    const agentUntil = agentShare(budget.budgetMs, 0);
    // The request carries the call's log line (the agent writes it once it answers ok: lib/agent/hook-records.ts).
    const log = () => agentLog({ elapsedMs: io.now }, logSettings(args), args.socket);
    let sentToAgent = false;
    const ask = (body: Parameters<typeof hookRequestFrame>[0], check: (answer: unknown) => void): void => {
      const answer = io.ask(args.socket, hookRequestFrame(body), agentUntil, MAX_ANSWER_BYTES, () => prepareAnswerChecks(body.op));
      check(JSON.parse(decoder.decode(answer)));
      sentToAgent = body.log !== undefined;
    };
    if (stage === "poststop") {
      ask({ op: "unregister", container: state.id, ...log() }, checkUnregisterAnswer);
      // The pod and name are for a line the hook writes itself; the agent names them from its own record.
      if (!sentToAgent) noteIdentity(facts, state.annotations ?? {});
      return { decision: { outcome: { status: 0 }, result: "unregistered", sentToAgent }, facts, args };
    }
    if (state.pid === undefined || state.pid === 0 || state.bundle === undefined || state.bundle === "") return handoff("state without pid or bundle");
    const path = configPath(state.bundle);
    let config: BundleConfig;
    try {
      read.config = { path, text: io.readFile(path, MAX_CONFIG_BYTES) };
    } catch (err) {
      throw unreadableConfig(path, err);
    }
    config = parseBundleConfig(path, read.config.text);
    if (isAgentContainer(config, state.annotations, args)) return handoff("the agent's own container");
    const ref = { id: state.id, pid: state.pid, bundle: state.bundle, annotations: state.annotations };
    const container = describeWith(ref, config, readNamespaces(state.pid, io.readLink), readCgroupSync(state.pid, io.readFile, io.statIno));
    const deadline = Math.floor(performance.timeOrigin + agentUntil);
    let warning: string | undefined;
    ask({ op: "register", source: "hook", container, deadline, ...log() }, (answer) => {
      warning = checkRegisterAnswer(answer, container.id);
    });
    if (!sentToAgent) noteIdentity(facts, { ...config.annotations, ...state.annotations });
    return { decision: { outcome: { status: 0 }, result: "registered", sentToAgent, ...(warning === undefined ? {} : { warning }) }, facts, args };
  } catch (err) {
    return handoff(err instanceof Error ? err.message : String(err));
  }
}
