/** Reading text logs of bounded lines: a byte stream split into lines, and the last N of them. */

const decoder = new TextDecoder();

/** The lines of a byte stream, without their newline; null for a line longer than `maxBytes`. */
export async function* splitLines(chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, maxBytes: number): AsyncGenerator<string | null> {
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let overlong = false;
  const take = (last: Uint8Array): string | null => {
    const tooLong = overlong || pendingBytes + last.length > maxBytes;
    const line = tooLong ? null : decoder.decode(pending.length === 0 ? last : Buffer.concat([...pending, last]));
    pending = [];
    pendingBytes = 0;
    overlong = false;
    return line;
  };
  for await (const chunk of chunks) {
    let start = 0;
    for (let end = chunk.indexOf(10); end >= 0; end = chunk.indexOf(10, start)) {
      yield take(chunk.subarray(start, end));
      start = end + 1;
    }
    const rest = chunk.subarray(start);
    if (overlong || pendingBytes + rest.length > maxBytes) {
      // Hold none of it: the line is reported (null) once its newline comes.
      overlong = true;
      pending = [];
      pendingBytes = 0;
    } else if (rest.length > 0) {
      pending.push(rest);
      pendingBytes += rest.length;
    }
  }
  if (overlong || pendingBytes > 0) yield take(new Uint8Array(0));
}

/** The last `size` items pushed, in order. */
export class Ring<T> {
  private readonly slots: T[] = [];
  private next = 0;
  constructor(private readonly size: number) {}
  push(item: T): void {
    if (this.slots.length < this.size) this.slots.push(item);
    else this.slots[this.next] = item;
    this.next = (this.next + 1) % this.size;
  }
  items(): T[] {
    return this.slots.length < this.size ? this.slots : [...this.slots.slice(this.next), ...this.slots.slice(0, this.next)];
  }
}
