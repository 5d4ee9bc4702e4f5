/**
 * The messages armor-agent nri exchanges with the runtime: ttrpc's envelope
 * (containerd/ttrpc request.proto, google.rpc.Status) and the part of NRI v0.4.0's
 * pkg/api/api.proto this plugin reads or writes. Field numbers are the .proto's;
 * a field we never read is skipped, a field we never set is left out.
 */
import { decodeWith, lengthDelimited, ProtoWriter, text, varintValue, type ProtoField } from "./proto.ts";

/** The services and methods, as ttrpc names them ("package.Service", "Method"). */
export const RUNTIME_SERVICE = "nri.pkg.api.v1alpha1.Runtime";
export const PLUGIN_SERVICE = "nri.pkg.api.v1alpha1.Plugin";

/** NRI's Event enum; a plugin subscribes with the mask `1 << (event - 1)`. */
export const NRI_EVENT = {
  RUN_POD_SANDBOX: 1,
  STOP_POD_SANDBOX: 2,
  REMOVE_POD_SANDBOX: 3,
  CREATE_CONTAINER: 4,
  POST_CREATE_CONTAINER: 5,
  START_CONTAINER: 6,
  POST_START_CONTAINER: 7,
  UPDATE_CONTAINER: 8,
  POST_UPDATE_CONTAINER: 9,
  STOP_CONTAINER: 10,
  REMOVE_CONTAINER: 11,
} as const;
export type NriEvent = (typeof NRI_EVENT)[keyof typeof NRI_EVENT];

/** The subscription mask of `events`. */
export const eventMask = (events: readonly NriEvent[]): number => events.reduce((mask, event) => mask | (1 << (event - 1)), 0);

/** NRI's ContainerState enum. */
export const CONTAINER_STATE = { UNKNOWN: 0, CREATED: 1, PAUSED: 2, RUNNING: 3, STOPPED: 4 } as const;

/** gRPC status codes ttrpc carries (google.golang.org/grpc/codes). */
export const RPC_CODE = { OK: 0, UNKNOWN: 2, INVALID_ARGUMENT: 3, FAILED_PRECONDITION: 9, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14 } as const;

// ---- ttrpc ------------------------------------------------------------------------------

/** ttrpc's Request {service 1, method 2, payload 3, timeout_nano 4, metadata 5}. */
export interface RpcRequest {
  service: string;
  method: string;
  payload: Uint8Array;
  timeoutNano: number;
}

export const encodeRpcRequest = (r: RpcRequest): Uint8Array =>
  new ProtoWriter().string(1, r.service).string(2, r.method).bytes(3, r.payload).uint(4, r.timeoutNano).finish();

export const decodeRpcRequest = (bytes: Uint8Array): RpcRequest =>
  decodeWith<RpcRequest>(bytes, { service: "", method: "", payload: new Uint8Array(0), timeoutNano: 0 }, (r, f) => {
    if (f.field === 1) r.service = str(f);
    else if (f.field === 2) r.method = str(f);
    else if (f.field === 3) r.payload = lengthDelimited(f);
    else if (f.field === 4) r.timeoutNano = varintValue(f);
  });

/** ttrpc's Response {status 1: google.rpc.Status {code 1, message 2}, payload 2}; no status is OK. */
export interface RpcResponse {
  code: number;
  message: string;
  payload: Uint8Array;
}

export const encodeRpcResponse = (r: RpcResponse): Uint8Array => {
  const w = new ProtoWriter();
  if (r.code !== RPC_CODE.OK) w.message(1, (s) => s.uint(1, r.code).string(2, r.message));
  return w.bytes(2, r.payload).finish();
};

export const decodeRpcResponse = (bytes: Uint8Array): RpcResponse =>
  decodeWith<RpcResponse>(bytes, { code: RPC_CODE.OK, message: "", payload: new Uint8Array(0) }, (r, f) => {
    if (f.field === 1)
      decodeWith(lengthDelimited(f), r, (s, g) => {
        if (g.field === 1) s.code = varintValue(g);
        else if (g.field === 2) s.message = str(g);
      });
    else if (f.field === 2) r.payload = lengthDelimited(f);
  });

// ---- NRI: what the plugin sends -----------------------------------------------------------

/** RegisterPluginRequest {plugin_name 1, plugin_idx 2}. */
export const encodeRegisterPlugin = (name: string, index: string): Uint8Array => new ProtoWriter().string(1, name).string(2, index).finish();

/** ConfigureResponse {events 2}. */
export const encodeConfigureResponse = (events: number): Uint8Array => new ProtoWriter().uint(2, events).finish();

/** One OCI hook: Hook {path 1, args 2, env 3, timeout 4: OptionalInt {value 1}}. */
export interface OciHook {
  path: string;
  args: string[];
  env: string[];
  timeout?: number | undefined;
}

/** The hook lists NRI carries (Hooks {prestart 1, create_runtime 2, create_container 3, start_container 4, poststart 5, poststop 6}). */
export interface Hooks {
  createRuntime: OciHook[];
  poststop: OciHook[];
  /** Every hook of every stage, for "is ours already there?". */
  all: OciHook[];
}

const HOOKS_FIELD = { createRuntime: 2, poststop: 6 } as const;

/** CreateContainerResponse {adjust 1: ContainerAdjustment {hooks 5}}; no hooks: an empty answer (no change). */
export const encodeCreateContainerResponse = (hooks: { createRuntime: OciHook[]; poststop: OciHook[] } | null): Uint8Array => {
  const w = new ProtoWriter();
  if (hooks !== null)
    w.message(1, (adjust) =>
      adjust.message(5, (h) => {
        for (const stage of ["createRuntime", "poststop"] as const) for (const hook of hooks[stage]) h.message(HOOKS_FIELD[stage], (e) => writeHook(e, hook));
      }),
    );
  return w.finish();
};

function writeHook(w: ProtoWriter, hook: OciHook): void {
  w.string(1, hook.path);
  for (const arg of hook.args) w.bytes(2, new TextEncoder().encode(arg), true);
  for (const env of hook.env) w.bytes(3, new TextEncoder().encode(env), true);
  if (hook.timeout !== undefined) w.message(4, (t) => t.uint(1, hook.timeout ?? 0));
}

// ---- NRI: what the runtime sends ----------------------------------------------------------

/** At most this many map entries are kept per map: the hook reads at most as many annotations. */
export const MAX_MAP_ENTRIES = 1024;

/** PodSandbox {id 1, name 2, uid 3, namespace 4, annotations 6, linux 8 {cgroups_path 4}, pid 9}. */
export interface PodSandbox {
  id: string;
  name: string;
  uid: string;
  namespace: string;
  annotations: Record<string, string>;
  pid: number;
  cgroupsPath: string;
}

/** Container {id 1, pod_sandbox_id 2, name 3, state 4, annotations 6, args 7, hooks 10, linux 11 {cgroups_path 5}, pid 12}. */
export interface Container {
  id: string;
  podSandboxId: string;
  name: string;
  state: number;
  annotations: Record<string, string>;
  args: string[];
  hooks: Hooks;
  pid: number;
  cgroupsPath: string;
}

export const decodePod = (bytes: Uint8Array): PodSandbox =>
  decodeWith<PodSandbox>(bytes, { id: "", name: "", uid: "", namespace: "", annotations: {}, pid: 0, cgroupsPath: "" }, (p, f) => {
    if (f.field === 1) p.id = str(f);
    else if (f.field === 2) p.name = str(f);
    else if (f.field === 3) p.uid = str(f);
    else if (f.field === 4) p.namespace = str(f);
    else if (f.field === 6) mapEntry(p.annotations, f);
    else if (f.field === 8)
      decodeWith(lengthDelimited(f), p, (q, g) => {
        if (g.field === 4) q.cgroupsPath = str(g);
      });
    else if (f.field === 9) p.pid = varintValue(f);
  });

export const decodeContainer = (bytes: Uint8Array): Container =>
  decodeWith<Container>(
    bytes,
    { id: "", podSandboxId: "", name: "", state: 0, annotations: {}, args: [], hooks: { createRuntime: [], poststop: [], all: [] }, pid: 0, cgroupsPath: "" },
    (c, f) => {
      if (f.field === 1) c.id = str(f);
      else if (f.field === 2) c.podSandboxId = str(f);
      else if (f.field === 3) c.name = str(f);
      else if (f.field === 4) c.state = varintValue(f);
      else if (f.field === 6) mapEntry(c.annotations, f);
      else if (f.field === 7) {
        if (c.args.length < MAX_MAP_ENTRIES) c.args.push(str(f));
      } else if (f.field === 10) c.hooks = decodeHooks(lengthDelimited(f));
      else if (f.field === 11)
        decodeWith(lengthDelimited(f), c, (d, g) => {
          if (g.field === 5) d.cgroupsPath = str(g);
        });
      else if (f.field === 12) c.pid = varintValue(f);
    },
  );

function decodeHooks(bytes: Uint8Array): Hooks {
  return decodeWith<Hooks>(bytes, { createRuntime: [], poststop: [], all: [] }, (h, f) => {
    if (f.field < 1 || f.field > 6) return;
    const hook = decodeWith<OciHook>(lengthDelimited(f), { path: "", args: [], env: [] }, (e, g) => {
      if (g.field === 1) e.path = str(g);
      else if (g.field === 2) e.args.push(str(g));
      else if (g.field === 3) e.env.push(str(g));
      else if (g.field === 4)
        decodeWith(lengthDelimited(g), e, (t, x) => {
          if (x.field === 1) t.timeout = varintValue(x);
        });
    });
    if (h.all.length >= MAX_MAP_ENTRIES) return;
    h.all.push(hook);
    if (f.field === HOOKS_FIELD.createRuntime) h.createRuntime.push(hook);
    else if (f.field === HOOKS_FIELD.poststop) h.poststop.push(hook);
  });
}

/** SynchronizeRequest {pods 1, containers 2}. */
export const decodeSynchronizeRequest = (bytes: Uint8Array): { pods: PodSandbox[]; containers: Container[] } =>
  decodeWith<{ pods: PodSandbox[]; containers: Container[] }>(bytes, { pods: [], containers: [] }, (r, f) => {
    if (f.field === 1) r.pods.push(decodePod(lengthDelimited(f)));
    else if (f.field === 2) r.containers.push(decodeContainer(lengthDelimited(f)));
  });

/** CreateContainerRequest and StopContainerRequest {pod 1, container 2}; StateChangeEvent {event 1, pod 2, container 3}. */
export interface PodAndContainer {
  event: number;
  pod: PodSandbox | null;
  container: Container | null;
}

export const decodePodAndContainer = (bytes: Uint8Array): PodAndContainer =>
  decodeWith<PodAndContainer>(bytes, { event: 0, pod: null, container: null }, (r, f) => {
    if (f.field === 1) r.pod = decodePod(lengthDelimited(f));
    else if (f.field === 2) r.container = decodeContainer(lengthDelimited(f));
  });

export const decodeStateChange = (bytes: Uint8Array): PodAndContainer =>
  decodeWith<PodAndContainer>(bytes, { event: 0, pod: null, container: null }, (r, f) => {
    if (f.field === 1) r.event = varintValue(f);
    else if (f.field === 2) r.pod = decodePod(lengthDelimited(f));
    else if (f.field === 3) r.container = decodeContainer(lengthDelimited(f));
  });

/** ConfigureRequest {config 1, runtime_name 2, runtime_version 3}. */
export const decodeConfigureRequest = (bytes: Uint8Array): { config: string; runtimeName: string; runtimeVersion: string } =>
  decodeWith(bytes, { config: "", runtimeName: "", runtimeVersion: "" }, (r, f) => {
    if (f.field === 1) r.config = str(f);
    else if (f.field === 2) r.runtimeName = str(f);
    else if (f.field === 3) r.runtimeVersion = str(f);
  });

function str(f: ProtoField): string {
  return text(lengthDelimited(f));
}

function mapEntry(into: Record<string, string>, f: ProtoField): void {
  const entry = decodeWith(lengthDelimited(f), { key: "", value: "" }, (e, g) => {
    if (g.field === 1) e.key = str(g);
    else if (g.field === 2) e.value = str(g);
  });
  // Own keys only: a key named "__proto__" must not reach the prototype.
  if (Object.keys(into).length < MAX_MAP_ENTRIES)
    Object.defineProperty(into, entry.key, { value: entry.value, enumerable: true, writable: true, configurable: true });
}
