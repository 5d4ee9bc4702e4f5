/**
 * What armor-hook does, with every effect passed in: read the OCI state, build the
 * container record, and register or unregister it with the agent.
 */
import type { ContainerInfo } from "../container.ts";
import { ArmorError, toArmorError } from "../errors.ts";
import { readBundleConfig, type ReadText } from "../oci/bundle.ts";
import { kubernetesIdentity } from "../oci/kubernetes.ts";
import { MAX_STATE_BYTES, parseState, resolveStage, type State } from "../oci/state.ts";
import { readNamespaces, type ReadLink } from "../proc/namespaces.ts";
import type { ClientOptions } from "../client.ts";
import type { RequestBody } from "../wire/messages.ts";
import { parseWith } from "../validate.ts";
import { RegisterResultSchema, UnregisterResultSchema } from "../wire/messages.ts";
import { HOOK_USAGE, parseHookArgs } from "./args.ts";
import { EXIT_STATUS, UNREACHABLE_CODES } from "./exit-status.ts";

/** The hook's effects. */
export interface HookDeps {
  argv: readonly string[];
  readStdin: () => Promise<string>;
  readText: ReadText;
  readLink: ReadLink;
  callAgent: (options: ClientOptions, body: RequestBody) => Promise<unknown>;
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
    if (stage === "createRuntime") {
      const container = await describeContainer(state, deps);
      const result = parseWith(RegisterResultSchema, await deps.callAgent(options, { op: "register", source: "hook", container }), "answer from agent", "E_PROTOCOL");
      if (result.container.id !== container.id) throw new ArmorError("E_PROTOCOL", `agent confirmed "${result.container.id}", not "${container.id}"`);
    } else {
      parseWith(UnregisterResultSchema, await deps.callAgent(options, { op: "unregister", container: state.id }), "answer from agent", "E_PROTOCOL");
    }
    return { status: 0 };
  } catch (err) {
    const error = toArmorError(err);
    const subject = containerId === undefined ? "" : ` (container ${containerId})`;
    if (UNREACHABLE_CODES.has(error.code)) {
      return { status: 0, stderr: `armor-hook: warning: ${error.code}: ${error.message}${subject}; continuing without the agent (fail-open)` };
    }
    return { status: EXIT_STATUS[error.code], stderr: `armor-hook: ${error.code}: ${error.message}${subject}` };
  }
}

/** Builds the record the agent will hold: namespaces from /proc, the rest from the bundle. */
async function describeContainer(state: State, deps: HookDeps): Promise<ContainerInfo> {
  if (state.pid === undefined || state.pid === 0) throw new ArmorError("E_STATE", "OCI state on stdin: pid: missing at createRuntime");
  if (state.bundle === undefined || state.bundle === "") throw new ArmorError("E_STATE", "OCI state on stdin: bundle: missing");
  const namespaces = readNamespaces(state.pid, deps.readLink);
  const config = await readBundleConfig(state.bundle, deps.readText);
  const k8s = kubernetesIdentity({ ...config.annotations, ...state.annotations });
  return {
    id: state.id,
    pid: state.pid,
    bundle: state.bundle,
    namespaces,
    apparmorProfile: config.apparmorProfile,
    ...k8s,
  };
}
