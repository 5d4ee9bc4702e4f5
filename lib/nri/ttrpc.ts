/**
 * ttrpc (containerd/ttrpc), unary calls only: messages `[u32 length][u32 streamID]
 * [u8 type][u8 flags]` + payload, big-endian; type 1 a Request, 2 its Response on the
 * same stream id; a client numbers its streams 1, 3, 5… One TtrpcConn speaks both
 * roles over one byte stream (one mux connection): it answers requests with
 * `handle` and matches answers to its own `call`s.
 */
import { ArmorError } from "../errors.ts";
import { StreamBuffer } from "./mux.ts";
import { decodeRpcRequest, decodeRpcResponse, encodeRpcRequest, encodeRpcResponse, RPC_CODE } from "./messages.ts";

export const TTRPC_HEADER_BYTES = 10;
/** ttrpc's messageLengthMax: 4 MiB. */
export const MAX_TTRPC_MESSAGE_BYTES = 4 << 20;
export const MESSAGE_TYPE = { request: 1, response: 2, data: 3 } as const;

/** An error answer: its gRPC status code and message travel to the caller. */
export class RpcError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

/** Serves one request: resolves with the response payload, or throws RpcError. */
export type RpcHandler = (service: string, method: string, payload: Uint8Array) => Promise<Uint8Array>;

/** One ttrpc message as framed. */
export interface TtrpcMessage {
  streamId: number;
  type: number;
  flags: number;
  payload: Uint8Array;
}

export function encodeTtrpcMessage(m: TtrpcMessage): Uint8Array {
  const out = new Uint8Array(TTRPC_HEADER_BYTES + m.payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, m.payload.length);
  view.setUint32(4, m.streamId);
  view.setUint8(8, m.type);
  view.setUint8(9, m.flags);
  out.set(m.payload, TTRPC_HEADER_BYTES);
  return out;
}

/** Reassembles ttrpc messages from a byte stream; zero-length bodies are real messages. */
export class TtrpcDecoder {
  readonly #bytes = new StreamBuffer();

  push(chunk: Uint8Array): TtrpcMessage[] {
    this.#bytes.append(chunk);
    const out: TtrpcMessage[] = [];
    while (this.#bytes.length >= TTRPC_HEADER_BYTES) {
      const length = this.#bytes.u32(0);
      if (length > MAX_TTRPC_MESSAGE_BYTES) throw new ArmorError("E_PROTOCOL", `ttrpc message of ${length} bytes exceeds ${MAX_TTRPC_MESSAGE_BYTES}`);
      if (this.#bytes.length < TTRPC_HEADER_BYTES + length) break;
      const streamId = this.#bytes.u32(4);
      const type = this.#bytes.u8(8);
      const flags = this.#bytes.u8(9);
      this.#bytes.take(TTRPC_HEADER_BYTES);
      out.push({ streamId, type, flags, payload: this.#bytes.take(length) });
    }
    return out;
  }
}

interface PendingCall {
  resolve: (payload: Uint8Array) => void;
  reject: (err: ArmorError) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** Both ttrpc roles over one byte stream. */
export class TtrpcConn {
  readonly #send: (bytes: Uint8Array) => void;
  readonly #handle: RpcHandler;
  readonly #decoder = new TtrpcDecoder();
  readonly #pending = new Map<number, PendingCall>();
  #nextStream = 1;
  #closed: ArmorError | undefined;

  constructor(send: (bytes: Uint8Array) => void, handle: RpcHandler) {
    this.#send = send;
    this.#handle = handle;
  }

  /** Feeds bytes from the stream. Throws E_PROTOCOL when they cannot be ttrpc. */
  receive(chunk: Uint8Array): void {
    for (const message of this.#decoder.push(chunk)) {
      if (message.type === MESSAGE_TYPE.request) void this.#serve(message);
      else if (message.type === MESSAGE_TYPE.response) this.#answer(message);
      // Streaming data (type 3) is not used by NRI's unary calls.
    }
  }

  /** Calls `service`/`method`; resolves with the response payload, rejects E_AGENT_REJECTED on an error status. */
  call(service: string, method: string, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(this.#closed);
    const streamId = this.#nextStream;
    this.#nextStream += 2;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(streamId);
        reject(new ArmorError("E_AGENT_TIMEOUT", `${method} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(streamId, { resolve, reject, timer });
      const request = encodeRpcRequest({ service, method, payload, timeoutNano: timeoutMs * 1_000_000 });
      this.#send(encodeTtrpcMessage({ streamId, type: MESSAGE_TYPE.request, flags: 0, payload: request }));
    });
  }

  /** Fails every pending call; later calls fail at once. */
  close(reason: ArmorError): void {
    if (this.#closed) return;
    this.#closed = reason;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(reason);
    }
    this.#pending.clear();
  }

  async #serve(message: TtrpcMessage): Promise<void> {
    let code: number = RPC_CODE.OK;
    let text = "";
    let payload: Uint8Array = new Uint8Array(0);
    try {
      const request = decodeRpcRequest(message.payload);
      payload = await this.#handle(request.service, request.method, request.payload);
    } catch (err) {
      code = err instanceof RpcError ? err.code : RPC_CODE.INTERNAL;
      text = err instanceof Error ? err.message : String(err);
      payload = new Uint8Array(0);
    }
    if (this.#closed) return;
    const response = encodeRpcResponse({ code, message: text, payload });
    this.#send(encodeTtrpcMessage({ streamId: message.streamId, type: MESSAGE_TYPE.response, flags: 0, payload: response }));
  }

  #answer(message: TtrpcMessage): void {
    const pending = this.#pending.get(message.streamId);
    if (!pending) return;
    this.#pending.delete(message.streamId);
    clearTimeout(pending.timer);
    const response = decodeRpcResponse(message.payload);
    if (response.code === RPC_CODE.OK) pending.resolve(response.payload);
    else pending.reject(new ArmorError("E_AGENT_REJECTED", `runtime answered status ${response.code}: ${response.message}`));
  }
}
