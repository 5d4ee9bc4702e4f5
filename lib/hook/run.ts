/**
 * What armor-hook does, with every effect passed in: read the OCI state, build the
 * container record, and register or unregister it with the agent — or, for the
 * agent's own container, start the detached bootstrap and return at once.
 */
import type { ClientOptions } from "../client.ts";
import { describeContainer } from "../describe.ts";
import { ArmorError, toArmorError } from "../errors.ts";
import { readBundleConfig, type BundleConfig, type ReadText } from "../oci/bundle.ts";
import { kubernetesIdentity } from "../oci/kubernetes.ts";
import { MAX_STATE_BYTES, parseState, resolveStage } from "../oci/state.ts";
import { prefetchLinks, type ReadLinkAsync } from "../proc/namespaces.ts";
import { parseWith } from "../validate.ts";
import { RegisterResultSchema, UnregisterResultSchema, type RequestBody } from "../wire/messages.ts";
import { bootstrapArgv, HOOK_USAGE, parseHookArgs } from "./args.ts";
import { EXIT_STATUS, UNREACHABLE_CODES } from "./exit-status.ts";

/** The hook's effects. */
export interface HookDeps {
  argv: readonly string[];
  readStdin: () => Promise<string>;
  readText: ReadText;
  readLink: ReadLinkAsync;
  callAgent: (options: ClientOptions, body: RequestBody) => Promise<unknown>;
  /** Starts this binary again with `argv`, detached, with no inherited stdio. */
  spawnDetached: (argv: string[]) => void;
  version: string;
}

/** How the hook ends: an exit status, and at most one line for stderr or stdout. */
export interface HookOutcome {
  status: number;
  stderr?: string;
  stdout?: string;
}

/** Runs the hook once. Never throws: every failure becomes an outcome. */
export async function runHook(deps: HookDeps): Promise<HookOutcome> {
  let containerId: string | undefined;
  try {
    const args = parseHookArgs(deps.argv);
    if (args.help) return { status: 0, stdout: HOOK_USAGE };
    if (args.version) return { status: 0, stdout: `armor-hook ${deps.version}` };
    const input = await deps.readStdin();
    if (input.length > MAX_STATE_BYTES) throw new ArmorError("E_STATE", `OCI state on stdin is larger than ${MAX_STATE_BYTES} bytes`);
    const state = parseState(input);
    containerId = state.id;
    const stage = resolveStage(state, args.stage);
    const options = { socket: args.socket, timeoutMs: args.timeoutMs, maxFrameBytes: 1024 * 1024 };
    if (stage === "poststop") {
      parseWith(UnregisterResultSchema, await deps.callAgent(options, { op: "unregister", container: state.id }), "answer from agent", "E_PROTOCOL");
      return { status: 0 };
    }
    if (state.pid === undefined || state.pid === 0) throw new ArmorError("E_STATE", "OCI state on stdin: pid: missing at createRuntime");
    if (state.bundle === undefined || state.bundle === "") throw new ArmorError("E_STATE", "OCI state on stdin: bundle: missing");
    const config = await readBundleConfig(state.bundle, deps.readText);
    if (isAgentContainer(config, state.annotations, args.agentName)) {
      // The agent is not up yet: its container must start now, and the fork tells
      // the agent about the containers that predate it once it answers.
      deps.spawnDetached(bootstrapArgv(args));
      return { status: 0 };
    }
    const ref = { id: state.id, pid: state.pid, bundle: state.bundle, annotations: state.annotations };
    // The binary's reader is asynchronous (Bun's own I/O); readNamespaces() reads synchronously.
    const readLink = await prefetchLinks(state.pid, deps.readLink);
    const container = await describeContainer(ref, { readText: deps.readText, readLink }, config);
    const result = parseWith(RegisterResultSchema, await deps.callAgent(options, { op: "register", source: "hook", container }), "answer from agent", "E_PROTOCOL");
    if (result.container?.id !== container.id) throw new ArmorError("E_PROTOCOL", `agent confirmed "${result.container?.id ?? "nothing"}", not "${container.id}"`);
    return { status: 0 };
  } catch (err) {
    const error = toArmorError(err);
    const subject = containerId === undefined ? "" : ` (container ${containerId})`;
    if (UNREACHABLE_CODES.has(error.code)) {
      return { status: 0, stderr: oneLine(`armor-hook: warning: ${error.code}: ${error.message}${subject}; continuing without the agent (fail-open)`) };
    }
    return { status: EXIT_STATUS[error.code], stderr: oneLine(`armor-hook: ${error.code}: ${error.message}${subject}`) };
  }
}

/** The agent's own container: process.args[0]'s basename or its container-name annotation is the agent's name. */
export function isAgentContainer(config: BundleConfig, stateAnnotations: Readonly<Record<string, string>> | undefined, agentName: string): boolean {
  const arg0 = config.args[0];
  if (arg0 !== undefined && arg0.slice(arg0.lastIndexOf("/") + 1) === agentName) return true;
  return kubernetesIdentity({ ...config.annotations, ...stateAnnotations }).containerName === agentName;
}

/** Escapes control characters: ids, paths and agent messages come from outside and must not split the line. */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === "\n" ? "\\n" : c === "\r" ? "\\r" : c === "\t" ? "\\t" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`));
}
