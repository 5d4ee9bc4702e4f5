/**
 * What armor-hook does, with every effect passed in: read the OCI state, build the
 * container record, and register or unregister it with the agent — or, for the
 * agent's own container, start the detached bootstrap and return at once.
 */
import { describeContainer } from "../describe.ts";
import { layout } from "../layout.ts";
import { ArmorError, toArmorError } from "../errors.ts";
import { escapeText } from "../escape.ts";
import { readBundleConfig } from "../oci/bundle.ts";
import { podNamespace } from "../oci/kubernetes.ts";
import { MAX_STATE_BYTES, parseState, resolveStage, stageOfArgument, type Stage } from "../oci/state.ts";
import { prefetchLinks } from "../proc/namespaces.ts";
import { parseWith } from "../validate.ts";
import { checkConfirmed } from "../wire/hook-call.ts";
import { RegisterResultSchema, UnregisterResultSchema } from "../wire/messages.ts";
import { epochMicros, type SpoolRecord } from "../spool-format.ts";
import { bootstrapArgv, hookUsage, logSettings, readHookArgs, type HookArgs, type LogSettings } from "./args.ts";
import { EXIT_STATUS, UNREACHABLE_CODES } from "./exit-status.ts";
import { agentLog, logCall, noteIdentity, type Decision } from "./log-call.ts";
import { failureVerdict } from "../fail-policy.ts";
import { isAgentContainer } from "./agent-container.ts";
import { agentShare, hookBudget } from "./budget.ts";
import type { SpoolResult } from "./spool.ts";
import type { HookDeps, HookOutcome } from "./deps.ts";

export type { HookDeps, HookOutcome };
export { isAgentContainer };

/** What the hook knows so far, for the failure path: the deadline may cut it off anywhere. */
interface Progress {
  containerId?: string;
  stage?: Stage | undefined;
  namespace: string | null;
  /** `namespace/name` and container name, for the log, once the bundle is read. */
  pod?: string;
  containerName?: string;
  event?: SpoolRecord;
  phase: string;
  /** The phase the first failure happened in (the failure path moves `phase` on). */
  failedIn?: string;
}

/**
 * Runs the hook once, within `--timeout-ms` whatever happens (stdin that never
 * ends, a hung file system, a silent agent), and logs what came of it. Never
 * throws: every failure becomes an outcome.
 */
export async function runHook(deps: HookDeps, already: AlreadyRead = {}): Promise<HookOutcome> {
  const { args, error } = readHookArgs(deps.argv);
  if (error) {
    // A bad hook entry fails every container: log it where the entry meant to log.
    const decision = failed(error, {});
    await logCall(deps, deps.writeLog ? logSettings(args) : null, { phase: "reading the command line" }, decision);
    return decision.outcome;
  }
  if (args.help) return { status: 0, stdout: hookUsage() };
  if (args.version) return { status: 0, stdout: `armor-hook ${deps.version}` };
  const settings = deps.writeLog ? logSettings(args) : null;
  const progress: Progress = { namespace: null, phase: "reading the OCI state" };
  // The one deadline: --timeout-ms less what a caller already spent and the time kept for the log line.
  const { budgetMs } = hookBudget(args.timeoutMs, settings !== null, already.spentMs ?? 0);
  const decision = await decide(withAlreadyRead(deps, already), args, progress, budgetMs, settings);
  await logCall(deps, settings, progress, decision);
  return decision.outcome;
}

/** What a caller (a fast path) already read and spent before handing the call to runHook(). */
export interface AlreadyRead {
  /** The OCI state as read from stdin. */
  stdin?: string;
  /** `<bundle>/config.json` as read (at most MAX_CONFIG_BYTES + 1 bytes). */
  config?: { path: string; text: string };
  /** Milliseconds of --timeout-ms already spent. */
  spentMs?: number;
}

function withAlreadyRead(deps: HookDeps, already: AlreadyRead): HookDeps {
  const { stdin, config } = already;
  if (stdin === undefined && config === undefined) return deps;
  return {
    ...deps,
    readStdin: stdin === undefined ? deps.readStdin : async () => stdin,
    readText: config === undefined ? deps.readText : async (path) => (path === config.path ? config.text : deps.readText(path)),
  };
}

/**
 * The work itself, under one AbortSignal that aborts after `budgetMs`: stdin and the
 * agent conversation take it; a step that cannot be cancelled is raced against it.
 * The agent gets its share of it, so an unreachable agent still leaves time to spool.
 */
async function decide(deps: HookDeps, args: HookArgs, progress: Progress, budgetMs: number, settings: LogSettings | null): Promise<Decision> {
  const signal = AbortSignal.timeout(budgetMs);
  const agentDeadline = agentShare(budgetMs, Date.now());
  const cutOff = new Promise<Decision>((resolve) => {
    signal.addEventListener("abort", () => resolve(timedOut(args, progress)), { once: true });
  });
  const work = attempt(deps, args, progress, signal, agentDeadline, settings).catch((err: unknown) =>
    onFailure(deps, args, progress, toArmorError(err), signal),
  );
  return Promise.race([work, cutOff]);
}

/** The outcome when the hook's own deadline came first: whose time ran out is in the code. */
function timedOut(args: HookArgs, progress: Progress): Decision {
  const asked = progress.phase === "asking the agent";
  const error = asked
    ? new ArmorError("E_AGENT_TIMEOUT", `no answer from the agent within ${args.timeoutMs} ms (asking the agent)`)
    : new ArmorError("E_HOOK_TIMEOUT", `armor-hook did not finish within ${args.timeoutMs} ms (${progress.phase})`);
  progress.failedIn ??= progress.phase;
  // Cut off mid-write, the spool's temp file may still be whole: the agent replays it then.
  const dropped = progress.phase === "writing the spool" ? "the deadline cut the spool write short (the agent replays it if it was whole)" : "no time left";
  return unconfirmed(error, args, progress, { dropped }, true);
}

async function attempt(
  deps: HookDeps,
  args: HookArgs,
  progress: Progress,
  signal: AbortSignal,
  agentDeadline: number,
  settings: LogSettings | null,
): Promise<Decision> {
  // A stage the argument names is known before stdin: a poststop is never refused, even if stdin never ends.
  progress.stage = stageOfArgument(args.stage);
  const input = await deps.readStdin(signal);
  if (input.length > MAX_STATE_BYTES) throw new ArmorError("E_STATE", `OCI state on stdin is larger than ${MAX_STATE_BYTES} bytes`);
  const state = parseState(input);
  progress.containerId = state.id;
  const stage = resolveStage(state, args.stage);
  progress.stage = stage;
  // The agent's share of the one deadline: it ends before the hook's, leaving time to spool.
  const options = () => {
    const timeoutMs = Math.max(1, agentDeadline - Date.now());
    return { socket: args.socket, timeoutMs, signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]), maxFrameBytes: 1024 * 1024 };
  };
  const at = deps.nowMicros?.() ?? epochMicros();
  if (stage === "poststop") {
    // The bundle is not read at poststop (it may be gone); the state's annotations name the pod.
    noteIdentity(progress, state.annotations ?? {});
    progress.event = { v: 1, at, op: "unregister", container: state.id };
    progress.phase = "asking the agent";
    const line = agentLog(deps, settings, args.socket);
    parseWith(UnregisterResultSchema, await deps.callAgent(options(), { op: "unregister", container: state.id, ...line }), "answer from agent", "E_PROTOCOL");
    return { outcome: { status: 0 }, result: "unregistered", sentToAgent: line.log !== undefined };
  }
  if (state.pid === undefined || state.pid === 0) throw new ArmorError("E_STATE", "OCI state on stdin: pid: missing at createRuntime");
  if (state.bundle === undefined || state.bundle === "") throw new ArmorError("E_STATE", "OCI state on stdin: bundle: missing");
  progress.phase = "reading the bundle";
  const config = await readBundleConfig(state.bundle, deps.readText);
  const annotations = { ...config.annotations, ...state.annotations };
  progress.namespace = podNamespace(annotations);
  noteIdentity(progress, annotations);
  const ref = { id: state.id, pid: state.pid, bundle: state.bundle, annotations: state.annotations };
  if (isAgentContainer(config, state.annotations, args)) {
    // The agent is not up yet: its container must start now, and the fork registers it and
    // tells the agent about the containers that predate it once it answers.
    progress.phase = "reading /proc";
    let own = "";
    try {
      const readLink = await prefetchLinks(state.pid, deps.readLink);
      own = JSON.stringify(await describeContainer(ref, { readText: deps.readText, readLink, statIno: deps.statIno }, config));
    } catch {
      // Then the fork's enumeration finds it, once the runtime has written its state.
    }
    // One fork per socket at a time (it holds bootstrap.lock): a running one registers the
    // agent and sends the batch; a second would only find the lock held and exit.
    if (deps.bootstrapRunning(layout(args.socket).bootstrapLock)) return { outcome: { status: 0 }, result: "bootstrap" };
    deps.spawnDetached(bootstrapArgv({ ...args, agentContainer: own }));
    return { outcome: { status: 0 }, result: "bootstrap" };
  }
  progress.phase = "reading /proc";
  // The binary's reader is asynchronous (Bun's own I/O); readNamespaces() reads synchronously.
  const readLink = await prefetchLinks(state.pid, deps.readLink);
  const container = await describeContainer(ref, { readText: deps.readText, readLink, statIno: deps.statIno }, config);
  progress.event = { v: 1, at, op: "register", container };
  progress.phase = "asking the agent";
  const line = agentLog(deps, settings, args.socket);
  const answer = await deps.callAgent(options(), { op: "register", source: "hook", container, deadline: agentDeadline, ...line });
  const result = parseWith(RegisterResultSchema, answer, "answer from agent", "E_PROTOCOL");
  checkConfirmed(result.container?.id, container.id);
  // A gate that did not decide (--gate-policy open): the log says so (the agent's line too, lib/agent/hook-records.ts).
  const warning = result.warning;
  return { outcome: { status: 0 }, result: "registered", sentToAgent: line.log !== undefined, ...(warning === undefined ? {} : { warning }) };
}

/** A failure: the agent could not be asked (policy, spool), or anything else (its exit status). */
async function onFailure(deps: HookDeps, args: HookArgs, progress: Progress, error: ArmorError, signal: AbortSignal): Promise<Decision> {
  // Past the deadline the call has already ended (timedOut()): nothing more is written.
  if (signal.aborted) return timedOut(args, progress);
  progress.failedIn = progress.phase;
  if (!UNREACHABLE_CODES.has(error.code)) return failed(error, progress);
  const spoolExists = deps.dirExists ? await deps.dirExists(args.spoolDir).catch(() => true) : true;
  const verdict = failureVerdict({ ...facts(args, progress), agentEverStarted: spoolExists });
  let spooled: SpoolResult = { dropped: "no spool" };
  // A refused container is destroyed by the runtime: there is nothing to spool for it.
  if (verdict.action === "start" && progress.event && deps.spool) {
    progress.phase = "writing the spool";
    spooled = spoolExists ? await deps.spool(args.spoolDir, progress.event) : { dropped: `no ${args.spoolDir}` };
  }
  return unconfirmed(error, args, progress, spooled, spoolExists);
}

/** The outcome for a container whose registration the agent did not confirm. */
function unconfirmed(error: ArmorError, args: HookArgs, progress: Progress, spooled: SpoolResult, agentEverStarted: boolean): Decision {
  const verdict = failureVerdict({ ...facts(args, progress), agentEverStarted });
  const subject = progress.containerId === undefined ? "" : ` (container ${progress.containerId})`;
  if (verdict.action === "refuse") {
    return {
      outcome: { status: EXIT_STATUS[error.code], stderr: oneLine(`armor-hook: ${error.code}: ${error.message}${subject}; ${verdict.reason}`) },
      result: "refused",
      code: error.code,
    };
  }
  const where = !progress.event ? "" : "written" in spooled ? `; event spooled to ${spooled.written}` : `; event not spooled: ${spooled.dropped}`;
  const decision: Decision = {
    outcome: { status: 0, stderr: oneLine(`armor-hook: warning: ${error.code}: ${error.message}${subject}; ${verdict.reason}${where}`) },
    result: "unconfirmed",
    code: error.code,
  };
  if (progress.event) decision.spool = "written" in spooled ? spooled.written : `not spooled: ${spooled.dropped}`;
  return decision;
}

function facts(args: HookArgs, progress: Progress) {
  return { policy: args.failPolicy, stage: progress.stage, namespace: progress.namespace, allowNamespaces: args.failAllowNamespaces };
}

function failed(error: ArmorError, progress: { containerId?: string }): Decision {
  const subject = progress.containerId === undefined ? "" : ` (container ${progress.containerId})`;
  return {
    outcome: { status: EXIT_STATUS[error.code], stderr: oneLine(`armor-hook: ${error.code}: ${error.message}${subject}`) },
    result: "failed",
    code: error.code,
  };
}

/** Escapes what could disguise the line (lib/escape.ts): ids, paths and agent messages come from outside. */
function oneLine(text: string): string {
  return escapeText(text);
}
