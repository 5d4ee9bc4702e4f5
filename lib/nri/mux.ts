/**
 * NRI's multiplexer (containerd/nri pkg/net/multiplex): one UNIX stream socket
 * carries several logical connections as frames `[u32 connID][u32 length][payload]`,
 * big-endian. Each connection is a byte stream of its own: a frame boundary means
 * nothing to the ttrpc riding on it.
 */
import { ArmorError } from "../errors.ts";

/** containerd is the ttrpc client of the Plugin service on conn 1; the plugin is the client of the Runtime service on conn 2. */
export const PLUGIN_SERVICE_CONN = 1;
export const RUNTIME_SERVICE_CONN = 2;

export const MUX_HEADER_BYTES = 8;
/**
 * Largest frame we send, header included. The runtime's reader hands each frame to
 * a 4,096-byte buffer and drops the plugin when a payload does not fit.
 */
export const MAX_SENT_FRAME_BYTES = 4096;
/** Largest payload we accept: the runtime's own limit (1 << 24). */
export const MAX_RECEIVED_PAYLOAD_BYTES = 1 << 24;

/** `bytes` on connection `conn`, cut into frames of at most MAX_SENT_FRAME_BYTES. */
export function muxFrames(conn: number, bytes: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  const room = MAX_SENT_FRAME_BYTES - MUX_HEADER_BYTES;
  for (let offset = 0; offset < bytes.length; offset += room) {
    const payload = bytes.subarray(offset, Math.min(offset + room, bytes.length));
    const frame = new Uint8Array(MUX_HEADER_BYTES + payload.length);
    const view = new DataView(frame.buffer);
    view.setUint32(0, conn);
    view.setUint32(4, payload.length);
    frame.set(payload, MUX_HEADER_BYTES);
    frames.push(frame);
  }
  return frames;
}

/** One demultiplexed payload. */
export interface MuxPayload {
  conn: number;
  payload: Uint8Array;
}

/** Reassembles frames from the trunk's chunks; an empty payload carries nothing and is dropped. */
export class MuxDecoder {
  readonly #bytes = new StreamBuffer();

  /** Feeds a chunk; returns the payloads it completed. Throws E_PROTOCOL on an impossible frame header. */
  push(chunk: Uint8Array): MuxPayload[] {
    this.#bytes.append(chunk);
    const out: MuxPayload[] = [];
    while (this.#bytes.length >= MUX_HEADER_BYTES) {
      const conn = this.#bytes.u32(0);
      const length = this.#bytes.u32(4);
      if (conn === 0) throw new ArmorError("E_PROTOCOL", "NRI mux frame on the reserved connection 0");
      if (length > MAX_RECEIVED_PAYLOAD_BYTES) throw new ArmorError("E_PROTOCOL", `NRI mux frame of ${length} bytes exceeds ${MAX_RECEIVED_PAYLOAD_BYTES}`);
      if (this.#bytes.length < MUX_HEADER_BYTES + length) break;
      this.#bytes.take(MUX_HEADER_BYTES);
      const payload = this.#bytes.take(length);
      if (length > 0) out.push({ conn, payload });
    }
    return out;
  }
}

/**
 * Bytes received and not yet decoded, for the mux's and ttrpc's decoders: chunks are
 * appended at the end (into room that doubles, so a large message arriving in small
 * chunks is copied a bounded number of times), whole messages taken off the front.
 */
export class StreamBuffer {
  #buf = new Uint8Array(4096);
  #start = 0;
  #end = 0;

  get length(): number {
    return this.#end - this.#start;
  }

  append(chunk: Uint8Array): void {
    if (this.#end + chunk.length > this.#buf.length) {
      const needed = this.length + chunk.length;
      const grown = needed > this.#buf.length ? new Uint8Array(Math.max(needed, this.#buf.length * 2)) : this.#buf;
      grown.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = grown;
      this.#end = this.length;
      this.#start = 0;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** The big-endian u32 at `offset` from the front. */
  u32(offset: number): number {
    const at = this.#start + offset;
    return new DataView(this.#buf.buffer, this.#buf.byteOffset + at, 4).getUint32(0);
  }

  u8(offset: number): number {
    return this.#buf[this.#start + offset] as number;
  }

  /** A copy of the first `n` bytes, which leave the buffer. */
  take(n: number): Uint8Array {
    const out = this.#buf.slice(this.#start, this.#start + n);
    this.#start += n;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return out;
  }
}
