/** A device check's answer ready for the wire: a 304, or a `metadataOnly` 200 with its JSON. */
export interface EncodedAnswer {
  readonly status: 200 | 304;
  /** Quoted strong ETag of the decision (`"d-…"`). */
  readonly etag: string;
  /** For `writeHead`, as name/value pairs in one flat list. */
  readonly headers: readonly string[];
  /** `package_details.json`; absent on a 304. */
  readonly body?: string;
}

interface SharedAnswer {
  readonly answer: EncodedAnswer;
  readonly bytes: number;
  /** Keys that point at it; it leaves the cache with the last of them. */
  users: number;
}

interface Entry {
  readonly shared: SharedAnswer;
  readonly bytes: number;
  /** Asked for since it was stored or last passed over by eviction (its second chance). */
  used: boolean;
}

/**
 * What an entry and a shared answer cost beyond their strings: Map slots, objects, the header list.
 * V8 does not tell: measured on Node 24 with a full cache, these err slightly high.
 */
const ENTRY_OVERHEAD_BYTES = 256;
const ANSWER_OVERHEAD_BYTES = 576;

/**
 * Encoded answers of device checks, keyed by the exact request (query string and If-None-Match)
 * and valid for one generation: the catalog index they were computed from (a new object after
 * every catalog change, so the first check after a change empties the cache) and the
 * presigned-URL window. Within a generation an answer is a pure function of the request, so a hit
 * is byte-identical to computing the answer again.
 *
 * Requests that lead to the same decision (devices differing only in id, parameter order or
 * spelling) share one encoded answer, found by status and decision ETag. Memory is bounded by an
 * estimate; eviction takes the oldest keys, passing over (once) those asked for since they were
 * stored: nearly least-recently-used, without writing to the Map on every hit.
 */
export class PackageAnswerCache {
  private readonly entries = new Map<string, Entry>();
  private readonly answers = new Map<string, SharedAnswer>();
  /**
   * Where eviction goes on from. A Map keeps deleted slots until it is rebuilt, so starting again
   * from the first entry at every eviction would step over every one evicted before it.
   */
  private cursor?: MapIterator<[string, Entry]>;
  private generation: object | undefined;
  private window = 0;
  private bytes = 0;

  /** @param maxBytes 0 turns the cache off. */
  constructor(private readonly maxBytes: number) {}

  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  /** What the cache holds: keys, distinct answers and the estimated bytes. */
  get size(): { entries: number; answers: number; bytes: number } {
    return { entries: this.entries.size, answers: this.answers.size, bytes: this.bytes };
  }

  /** The answer cached for `key`, if it was computed in this generation. */
  get(generation: object, window: number, key: string): EncodedAnswer | undefined {
    if (generation !== this.generation || window !== this.window) {
      this.clear();
      this.generation = generation;
      this.window = window;
      return undefined;
    }
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    entry.used = true;
    return entry.shared.answer;
  }

  /** An answer already encoded in this generation for this decision (status and ETag), if any. */
  shared(generation: object, window: number, status: 200 | 304, etag: string): EncodedAnswer | undefined {
    if (generation !== this.generation || window !== this.window) return undefined;
    return this.answers.get(`${status} ${etag}`)?.answer;
  }

  /** Caches `answer` for `key`; ignored when the generation it was computed in has passed. */
  set(generation: object, window: number, key: string, answer: EncodedAnswer): void {
    if (!this.enabled || generation !== this.generation || window !== this.window || this.entries.has(key)) return;
    const answerKey = `${answer.status} ${answer.etag}`;
    let shared = this.answers.get(answerKey);
    const entryBytes = key.length + ENTRY_OVERHEAD_BYTES;
    const answerBytes = shared === undefined ? answerKey.length + (answer.body?.length ?? 0) + ANSWER_OVERHEAD_BYTES : 0;
    // No single request may take a large share: a few huge ones must not push out everyone else.
    if ((entryBytes + answerBytes) * 16 > this.maxBytes) return;
    if (shared === undefined) {
      shared = { answer, bytes: answerBytes, users: 0 };
      this.answers.set(answerKey, shared);
      this.bytes += answerBytes;
    }
    shared.users++;
    this.entries.set(key, { shared, bytes: entryBytes, used: false });
    this.bytes += entryBytes;
    // A Map iterates in insertion order, oldest first, and goes on to entries added meanwhile;
    // a used entry moves to the end, unused.
    while (this.bytes > this.maxBytes && this.entries.size > 0) {
      this.cursor ??= this.entries.entries();
      const next = this.cursor.next();
      if (next.done) {
        this.cursor = undefined;
        continue;
      }
      const [oldest, entry] = next.value;
      if (entry.used) {
        entry.used = false;
        this.entries.delete(oldest);
        this.entries.set(oldest, entry);
      } else {
        this.evict(oldest, entry);
      }
    }
  }

  private evict(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.bytes -= entry.bytes;
    const shared = entry.shared;
    if (--shared.users === 0) {
      this.answers.delete(`${shared.answer.status} ${shared.answer.etag}`);
      this.bytes -= shared.bytes;
    }
  }

  private clear(): void {
    this.cursor = undefined;
    this.entries.clear();
    this.answers.clear();
    this.bytes = 0;
  }
}
