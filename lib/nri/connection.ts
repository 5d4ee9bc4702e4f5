/**
 * One connection to the runtime's NRI socket: the mux, ttrpc on its two
 * connections, RegisterPlugin at once (a connection that does not register holds
 * up every other plugin's), then the runtime's calls served by the plugin until
 * the socket closes. `startNri()` keeps one such connection up, with backoff.
 */
import type { Socket } from "bun";
import { ArmorError, errnoOf } from "../errors.ts";
import type { Logger } from "../log.ts";
import {
  decodeConfigureRequest,
  decodePodAndContainer,
  decodeStateChange,
  decodeSynchronizeRequest,
  encodeConfigureResponse,
  encodeCreateContainerResponse,
  encodeRegisterPlugin,
  PLUGIN_SERVICE,
  RPC_CODE,
  RUNTIME_SERVICE,
} from "./messages.ts";
import { concat } from "../wire/frame.ts";
import { MuxDecoder, muxFrames, PLUGIN_SERVICE_CONN, RUNTIME_SERVICE_CONN } from "./mux.ts";
import type { NriPlugin } from "./plugin.ts";
import { RpcError, TtrpcConn } from "./ttrpc.ts";

/** The name the plugin registers under; the runtime logs it as "NN-armor-hooks". */
export const PLUGIN_NAME = "armor-hooks";
/** The runtime calls plugins in ascending index order; two digits. */
export const DEFAULT_PLUGIN_INDEX = "10";
/** containerd's default NRI socket. */
export const DEFAULT_NRI_SOCKET = "/var/run/nri/nri.sock";
/** RegisterPlugin's answer must come within the runtime's registration timeout (5 s by default). */
const REGISTER_TIMEOUT_MS = 5_000;
/** An answer slower than this is logged as a warning: the runtime gives up at 2 s. */
const SLOW_ANSWER_MS = 1_000;
/** Reconnection backoff: doubling from the first to the last. */
export const RECONNECT_MIN_MS = 250;
export const RECONNECT_MAX_MS = 5_000;

/** Two digits, as NRI's CheckPluginIndex wants. */
export function parsePluginIndex(raw: string): string {
  if (!/^\d\d$/.test(raw)) throw new ArmorError("E_USAGE", `--plugin-index must be exactly two digits (00..99), got "${raw}"`);
  return raw;
}

const EMPTY = new Uint8Array(0);

export interface ConnectionOptions {
  nriSocket: string;
  pluginIndex: string;
  plugin: NriPlugin;
  log: Logger;
}

/** An open, registered connection; `closed` resolves when the runtime goes away. */
export interface NriConnection {
  closed: Promise<void>;
  close(): void;
}

/** Connects and registers; throws E_AGENT_UNREACHABLE-free errors: E_SOCKET (no runtime) or E_PROTOCOL. */
export async function connectNri(o: ConnectionOptions): Promise<NriConnection> {
  const decoder = new MuxDecoder();
  let outbox: Uint8Array = EMPTY;
  let socket: Socket<undefined> | undefined;
  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  let ended = false;
  const flush = (): void => {
    if (!socket || outbox.length === 0) return;
    const written = socket.write(outbox);
    outbox = written >= outbox.length ? EMPTY : outbox.subarray(Math.max(written, 0));
  };
  const sender = (conn: number) => (bytes: Uint8Array) => {
    if (ended) return;
    for (const frame of muxFrames(conn, bytes)) outbox = outbox.length === 0 ? frame : concat(outbox, frame);
    flush();
  };
  const shutdown = (reason: string): void => {
    if (ended) return;
    ended = true;
    const err = new ArmorError("E_PROTOCOL", `NRI connection closed: ${reason}`);
    plugin.close(err);
    runtime.close(err);
    socket?.end();
    resolveClosed();
  };
  const plugin = new TtrpcConn(sender(PLUGIN_SERVICE_CONN), async (service, method, payload) => {
    const started = performance.now();
    try {
      return await serveRuntimeCall(o, service, method, payload);
    } finally {
      const ms = Math.round((performance.now() - started) * 100) / 100;
      // The runtime drops a plugin slower than its request timeout (2 s): say so well before.
      o.log(ms > SLOW_ANSWER_MS ? "warn" : "debug", "answered the runtime", { method, ms });
    }
  });
  const runtime = new TtrpcConn(sender(RUNTIME_SERVICE_CONN), async () => {
    throw new RpcError(RPC_CODE.UNIMPLEMENTED, "the plugin serves nothing on the runtime's connection");
  });
  try {
    socket = await Bun.connect({
      unix: o.nriSocket,
      socket: {
        data: (_s, chunk) => {
          try {
            for (const { conn, payload } of decoder.push(chunk)) {
              if (conn === PLUGIN_SERVICE_CONN) plugin.receive(payload);
              else if (conn === RUNTIME_SERVICE_CONN) runtime.receive(payload);
            }
          } catch (err) {
            o.log("error", "NRI protocol error; dropping the connection", { error: err instanceof Error ? err.message : String(err) });
            shutdown("protocol error");
          }
        },
        drain: () => flush(),
        close: () => shutdown("the runtime closed it"),
        error: (_s, err) => shutdown(errnoOf(err) ?? err.message),
      },
    });
  } catch (err) {
    throw new ArmorError("E_SOCKET", `cannot connect to the NRI socket ${o.nriSocket}: ${errnoOf(err) ?? String(err)}`, { cause: err });
  }
  flush();
  try {
    await runtime.call(RUNTIME_SERVICE, "RegisterPlugin", encodeRegisterPlugin(PLUGIN_NAME, o.pluginIndex), REGISTER_TIMEOUT_MS);
  } catch (err) {
    shutdown("registration failed");
    throw new ArmorError("E_PROTOCOL", `NRI registration as ${o.pluginIndex}-${PLUGIN_NAME} failed: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  o.log("info", "registered with the runtime's NRI", { socket: o.nriSocket, plugin: `${o.pluginIndex}-${PLUGIN_NAME}` });
  return { closed, close: () => shutdown("closed by the plugin") };
}

/** One call of the runtime's on the Plugin service. */
async function serveRuntimeCall(o: ConnectionOptions, service: string, method: string, payload: Uint8Array): Promise<Uint8Array> {
  if (service !== PLUGIN_SERVICE) throw new RpcError(RPC_CODE.UNIMPLEMENTED, `unknown service ${service}`);
  switch (method) {
    case "Configure": {
      const request = decodeConfigureRequest(payload);
      o.log("info", "NRI configure", { runtime: request.runtimeName, version: request.runtimeVersion });
      return encodeConfigureResponse(o.plugin.eventMask());
    }
    case "Synchronize": {
      const request = decodeSynchronizeRequest(payload);
      o.plugin.synchronize(request.pods, request.containers);
      return EMPTY;
    }
    case "CreateContainer": {
      const { pod, container } = decodePodAndContainer(payload);
      if (!container) throw new RpcError(RPC_CODE.INVALID_ARGUMENT, "CreateContainer without a container");
      return encodeCreateContainerResponse(await o.plugin.createContainer(pod, container));
    }
    case "StopContainer": {
      const { container } = decodePodAndContainer(payload);
      if (container) o.plugin.stopContainer(container);
      return EMPTY;
    }
    case "StateChange": {
      const { event, pod, container } = decodeStateChange(payload);
      o.plugin.stateChange(event, pod, container);
      return EMPTY;
    }
    case "UpdateContainer":
    case "Shutdown":
      return EMPTY;
    default:
      throw new RpcError(RPC_CODE.UNIMPLEMENTED, `unknown method ${method}`);
  }
}

/** The NRI component of `armor-agent nri`: keeps a registered connection up until stopped. */
export interface NriComponent {
  start(): void;
  stop(): void;
  /** Resolves when the current connection is registered (tests, start-up logs). */
  registered(): Promise<void>;
}

export function nriComponent(o: ConnectionOptions, sleep: (ms: number) => Promise<void> = (ms) => Bun.sleep(ms)): NriComponent {
  let stopped = false;
  let current: NriConnection | undefined;
  let onRegistered: Array<() => void> = [];
  const loop = async (): Promise<void> => {
    let backoff = RECONNECT_MIN_MS;
    let failures = 0;
    while (!stopped) {
      try {
        current = await connectNri(o);
        backoff = RECONNECT_MIN_MS;
        failures = 0;
        for (const resolve of onRegistered) resolve();
        onRegistered = [];
        await current.closed;
        current = undefined;
        if (!stopped) o.log("warn", "the runtime closed the NRI connection; reconnecting", { socket: o.nriSocket });
      } catch (err) {
        // The first failure of a run says so; the retries after it (every 5 s at most) only at debug.
        o.log(failures++ === 0 ? "warn" : "debug", "no NRI connection; retrying", {
          error: err instanceof Error ? err.message : String(err),
          retryMs: backoff,
        });
        await sleep(backoff);
        backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
        continue;
      }
      await sleep(RECONNECT_MIN_MS);
    }
  };
  return {
    start: () => void loop(),
    stop: () => {
      stopped = true;
      current?.close();
      o.plugin.stop();
    },
    registered: () => (current ? Promise.resolve() : new Promise((resolve) => onRegistered.push(resolve))),
  };
}
