/**
 * A CRI v1 RuntimeService client over a UNIX socket, as kubelet is one: the
 * calls that run a pod and its containers and the List calls, each a promise
 * with its own deadline. Messages are the subset in runtime-v1.proto, with
 * proto-loader's camelCase field names.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { join } from "node:path";

const PROTO = join(import.meta.dir, "runtime-v1.proto");

/** How long one CRI call may take before the client gives up (kubelet's default is 2 min; ours is shorter). */
export const CRI_CALL_TIMEOUT_MS = 30_000;

export type NamespaceMode = "POD" | "CONTAINER" | "NODE" | "TARGET";

export interface NamespaceOption {
  network?: NamespaceMode;
  pid?: NamespaceMode;
  ipc?: NamespaceMode;
}

export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt?: number;
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  logDirectory?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: { cgroupParent?: string; securityContext?: { namespaceOptions?: NamespaceOption; privileged?: boolean } };
}

export interface CriMount {
  containerPath: string;
  hostPath: string;
  readonly?: boolean;
}

export interface ContainerConfig {
  metadata: { name: string; attempt?: number };
  image: { image: string };
  command?: string[];
  args?: string[];
  workingDir?: string;
  envs?: Array<{ key: string; value: string }>;
  mounts?: CriMount[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  logPath?: string;
  linux?: {
    securityContext?: { capabilities?: { addCapabilities?: string[]; dropCapabilities?: string[] }; namespaceOptions?: NamespaceOption; privileged?: boolean };
  };
}

export type PodSandboxState = "SANDBOX_READY" | "SANDBOX_NOTREADY";
export type ContainerState = "CONTAINER_CREATED" | "CONTAINER_RUNNING" | "CONTAINER_EXITED" | "CONTAINER_UNKNOWN";

export interface PodSandbox {
  id: string;
  metadata: PodSandboxMetadata;
  state: PodSandboxState;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface Container {
  id: string;
  podSandboxId: string;
  metadata: { name: string; attempt: number };
  state: ContainerState;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface ContainerStatus {
  id: string;
  state: ContainerState;
  exitCode: number;
  reason: string;
  message: string;
  logPath: string;
}

export interface VersionResponse {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

/** A failed call: the gRPC status code's name and containerd's message. */
export class CriError extends Error {
  constructor(
    readonly method: string,
    readonly code: string,
    readonly details: string,
  ) {
    super(`CRI ${method}: ${code}: ${details}`);
  }
}

type Unary = (
  request: object,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response: unknown) => void,
) => void;

let definition: grpc.GrpcObject | undefined;
function runtimeServiceClass(): grpc.ServiceClientConstructor {
  definition ??= grpc.loadPackageDefinition(protoLoader.loadSync(PROTO, { longs: Number, enums: String, defaults: true }));
  const runtime = (definition.runtime as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return runtime.RuntimeService as grpc.ServiceClientConstructor;
}

/** The CRI RuntimeService of one runtime, at a UNIX socket path. */
export class CriClient {
  readonly #client: grpc.Client;

  constructor(socket: string) {
    const Service = runtimeServiceClass();
    this.#client = new Service(`unix://${socket}`, grpc.credentials.createInsecure());
  }

  #call<T>(method: string, request: object, timeoutMs = CRI_CALL_TIMEOUT_MS): Promise<T> {
    const fn = (this.#client as unknown as Record<string, Unary>)[method];
    if (!fn) throw new Error(`no CRI method ${method} in runtime-v1.proto`);
    return new Promise((resolve, reject) => {
      fn.call(this.#client, request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (error, response) => {
        if (error) reject(new CriError(method, grpc.status[error.code] ?? String(error.code), error.details));
        else resolve(response as T);
      });
    });
  }

  version(): Promise<VersionResponse> {
    return this.#call("version", { version: "v1" });
  }

  /** Runs a pod's sandbox; returns its id. */
  async runPodSandbox(config: PodSandboxConfig, runtimeHandler = ""): Promise<string> {
    return (await this.#call<{ podSandboxId: string }>("runPodSandbox", { config, runtimeHandler })).podSandboxId;
  }

  async stopPodSandbox(podSandboxId: string): Promise<void> {
    await this.#call("stopPodSandbox", { podSandboxId });
  }

  async removePodSandbox(podSandboxId: string): Promise<void> {
    await this.#call("removePodSandbox", { podSandboxId });
  }

  async listPodSandbox(filter: { id?: string; state?: { state: PodSandboxState }; labelSelector?: Record<string, string> } = {}): Promise<PodSandbox[]> {
    return (await this.#call<{ items: PodSandbox[] }>("listPodSandbox", { filter })).items;
  }

  /** Creates a container in a pod (kubelet passes the pod's config again); returns its id. */
  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    return (await this.#call<{ containerId: string }>("createContainer", { podSandboxId, config, sandboxConfig })).containerId;
  }

  async startContainer(containerId: string): Promise<void> {
    await this.#call("startContainer", { containerId });
  }

  /** Stops a container: SIGTERM, then SIGKILL after `timeoutSeconds` (0: at once). */
  async stopContainer(containerId: string, timeoutSeconds = 0): Promise<void> {
    await this.#call("stopContainer", { containerId, timeout: timeoutSeconds }, CRI_CALL_TIMEOUT_MS + timeoutSeconds * 1000);
  }

  async removeContainer(containerId: string): Promise<void> {
    await this.#call("removeContainer", { containerId });
  }

  async listContainers(
    filter: { id?: string; podSandboxId?: string; state?: { state: ContainerState }; labelSelector?: Record<string, string> } = {},
  ): Promise<Container[]> {
    return (await this.#call<{ containers: Container[] }>("listContainers", { filter })).containers;
  }

  async containerStatus(containerId: string): Promise<ContainerStatus> {
    return (await this.#call<{ status: ContainerStatus }>("containerStatus", { containerId })).status;
  }

  close(): void {
    this.#client.close();
  }
}
