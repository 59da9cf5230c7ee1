/**
 * Chunks verified against their signed manifest moments ago, kept in memory (bounded by bytes,
 * least recently used dropped first).
 *
 * A chunk is typically wanted several times within seconds: by this agent's read-ahead and then
 * its device, and, when this agent owns it, by every other agent of the site. Reading it back from
 * disk each time meant a file open, a read and a fresh SHA-256 per use (the disk copy must be
 * re-verified), which CPU profiles showed as a large share of the agent's work. Bytes held here
 * never touched the disk, so they need no re-verification. Nothing may modify a buffer once it is
 * in here.
 */
export class VerifiedChunks {
  private readonly entries = new Map<string, Uint8Array>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  static key(sha256: string, index: number): string {
    return `${sha256}:${index}`;
  }

  get(key: string): Uint8Array | undefined {
    const data = this.entries.get(key);
    if (data) {
      this.entries.delete(key);
      this.entries.set(key, data);
    }
    return data;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Only for bytes that were just checked against the manifest. */
  set(key: string, data: Uint8Array): void {
    if (data.byteLength > this.maxBytes) return;
    this.delete(key);
    this.entries.set(key, data);
    this.bytes += data.byteLength;
    for (const [oldest, old] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= old.byteLength;
    }
  }

  delete(key: string): void {
    const data = this.entries.get(key);
    if (!data) return;
    this.entries.delete(key);
    this.bytes -= data.byteLength;
  }
}
