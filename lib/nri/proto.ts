/**
 * The protobuf wire format (proto3), as much of it as NRI's and ttrpc's messages
 * need: varints, length-delimited fields (strings, bytes, messages, map entries)
 * and skipping the fixed-width kinds nobody sends us. Written by hand rather than
 * with protobufjs: a dozen messages, read field by field, need ~150 lines; a
 * generated or reflected codec brings a dependency and its start-up for the same.
 */
import { ArmorError } from "../errors.ts";

/** Wire types (protobuf encoding spec: "the lower 3 bits of the tag"). */
export const WIRE = { varint: 0, fixed64: 1, bytes: 2, fixed32: 5 } as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

const malformed = (what: string): ArmorError => new ArmorError("E_PROTOCOL", `malformed protobuf: ${what}`);

/** Builds one message; fields are written in the order called (proto3 readers accept any). */
export class ProtoWriter {
  #buf = new Uint8Array(64);
  #len = 0;

  /** A varint field; proto3 leaves a zero value out. */
  uint(field: number, value: number): this {
    if (value === 0) return this;
    this.#tag(field, WIRE.varint);
    this.#varint(value);
    return this;
  }

  bool(field: number, value: boolean): this {
    return this.uint(field, value ? 1 : 0);
  }

  /** A string field; the empty string is left out. */
  string(field: number, value: string): this {
    if (value === "") return this;
    return this.bytes(field, encoder.encode(value));
  }

  /** A bytes field, written even when empty when `always` (a present sub-message). */
  bytes(field: number, value: Uint8Array, always = false): this {
    if (value.length === 0 && !always) return this;
    this.#tag(field, WIRE.bytes);
    this.#varint(value.length);
    this.#put(value);
    return this;
  }

  /** A sub-message field, present even when all its fields are defaults. */
  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish(), true);
  }

  /** A map<string, string> field: one entry message {key = 1, value = 2} per pair. */
  map(field: number, entries: Readonly<Record<string, string>>): this {
    for (const [key, value] of Object.entries(entries)) this.message(field, (w) => w.string(1, key).string(2, value));
    return this;
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }

  #tag(field: number, wire: number): void {
    this.#varint(field * 8 + wire);
  }

  /** Non-negative integers up to 2^53 (every value this plugin sends). */
  #varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new ArmorError("E_INTERNAL", `cannot encode ${value} as a varint`);
    this.#room(10);
    let n = value;
    while (n >= 0x80) {
      this.#buf[this.#len++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.#buf[this.#len++] = n;
  }

  #put(bytes: Uint8Array): void {
    this.#room(bytes.length);
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
  }

  #room(extra: number): void {
    if (this.#len + extra <= this.#buf.length) return;
    const grown = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + extra));
    grown.set(this.#buf.subarray(0, this.#len));
    this.#buf = grown;
  }
}

/** One field as read: a varint's value, or a length-delimited field's bytes. */
export type ProtoField = { field: number; wire: typeof WIRE.varint; value: number } | { field: number; wire: typeof WIRE.bytes; value: Uint8Array };

/**
 * The fields of one message, in wire order. Fixed-width fields are skipped (no field
 * we read has that type); a truncated or impossible encoding throws E_PROTOCOL.
 */
export function* readFields(bytes: Uint8Array): Generator<ProtoField> {
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= bytes.length) throw malformed("truncated varint");
      const byte = bytes[pos++] as number;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
    }
    throw malformed("varint longer than 10 bytes");
  };
  while (pos < bytes.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0) throw malformed("field number 0");
    if (wire === WIRE.varint) yield { field, wire, value: varint() };
    else if (wire === WIRE.bytes) {
      const length = varint();
      if (length > bytes.length - pos) throw malformed(`field ${field} runs past the end`);
      yield { field, wire, value: bytes.subarray(pos, pos + length) };
      pos += length;
    } else if (wire === WIRE.fixed64 || wire === WIRE.fixed32) {
      pos += wire === WIRE.fixed64 ? 8 : 4;
      if (pos > bytes.length) throw malformed(`field ${field} runs past the end`);
    } else throw malformed(`wire type ${wire} of field ${field}`);
  }
}

/** A length-delimited field as UTF-8 text; invalid UTF-8 is malformed. */
export function text(value: Uint8Array): string {
  try {
    return decoder.decode(value);
  } catch {
    throw malformed("a string field is not UTF-8");
  }
}

/** The fields of a message read into a record by `read`; unknown fields are ignored (proto3). */
export function decodeWith<T>(bytes: Uint8Array, initial: T, read: (into: T, field: ProtoField) => void): T {
  for (const field of readFields(bytes)) read(initial, field);
  return initial;
}

/** The bytes of a length-delimited field, or E_PROTOCOL when the peer sent it as a varint. */
export function lengthDelimited(f: ProtoField): Uint8Array {
  if (f.wire !== WIRE.bytes) throw malformed(`field ${f.field} should be length-delimited`);
  return f.value;
}

/** The value of a varint field, or E_PROTOCOL when the peer sent it length-delimited. */
export function varintValue(f: ProtoField): number {
  if (f.wire !== WIRE.varint) throw malformed(`field ${f.field} should be a varint`);
  return f.value;
}
