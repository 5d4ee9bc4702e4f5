/**
 * Framing for the hook ↔ agent socket: a 4-byte big-endian payload length, then
 * that many bytes of UTF-8 JSON. Sockets deliver data in arbitrary chunks, so the
 * decoder reassembles frames and refuses an oversize one from its header alone,
 * before buffering its body.
 */
import { ArmorError } from "../errors.ts";

/** The protocol version this build speaks: every message carries it (lib/wire/messages.ts). */
export const PROTOCOL_VERSION = 1;

/** Largest payload a peer may send, in bytes. */
export const MAX_FRAME_BYTES = 64 * 1024;
const HEADER_BYTES = 4;

const encoder = new TextEncoder();

/** Encodes one message as a frame. */
export function encodeFrame(message: unknown, maxBytes: number = MAX_FRAME_BYTES): Uint8Array {
  const payload = encoder.encode(JSON.stringify(message));
  if (payload.length > maxBytes) {
    throw new ArmorError("E_FRAME_TOO_LARGE", `frame of ${payload.length} bytes exceeds the limit of ${maxBytes}`);
  }
  const frame = new Uint8Array(HEADER_BYTES + payload.length);
  new DataView(frame.buffer).setUint32(0, payload.length);
  frame.set(payload, HEADER_BYTES);
  return frame;
}

/** Reassembles frames from a stream of chunks. */
export class FrameDecoder {
  #buffer: Uint8Array = new Uint8Array(0);
  readonly #maxBytes: number;

  constructor(maxBytes: number = MAX_FRAME_BYTES) {
    this.#maxBytes = maxBytes;
  }

  /** Feeds a chunk; returns the payloads it completed. Throws on a frame header that breaks the limits. */
  push(chunk: Uint8Array): Uint8Array[] {
    const { frames, error } = this.pushAll(chunk);
    if (error) throw error;
    return frames;
  }

  /**
   * Feeds a chunk; returns the payloads it completed and, when a frame header breaks
   * the limits, the error — with the frames before it, which were sent whole and are
   * owed an answer. After an error the stream cannot be resynchronised.
   */
  pushAll(chunk: Uint8Array): { frames: Uint8Array[]; error?: ArmorError } {
    this.#buffer = this.#buffer.length === 0 ? chunk.slice() : concat(this.#buffer, chunk);
    const frames: Uint8Array[] = [];
    let offset = 0;
    while (this.#buffer.length - offset >= HEADER_BYTES) {
      const view = new DataView(this.#buffer.buffer, this.#buffer.byteOffset + offset, HEADER_BYTES);
      const length = view.getUint32(0);
      if (length === 0) return { frames, error: new ArmorError("E_PROTOCOL", "empty frame") };
      if (length > this.#maxBytes) {
        return { frames, error: new ArmorError("E_FRAME_TOO_LARGE", `frame of ${length} bytes exceeds the limit of ${this.#maxBytes}`) };
      }
      if (this.#buffer.length - offset - HEADER_BYTES < length) break;
      const start = offset + HEADER_BYTES;
      frames.push(this.#buffer.slice(start, start + length));
      offset = start + length;
    }
    this.#buffer = offset === 0 ? this.#buffer : this.#buffer.slice(offset);
    return { frames };
  }

  /** True while part of a frame is buffered. */
  get midFrame(): boolean {
    return this.#buffer.length > 0;
  }
}

/** a then b, in a new array. */
export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
