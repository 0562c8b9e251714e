/**
 * A streaming splitter for JSON documents too large to parse whole: it emits
 * the raw bytes of each element of the top-level array (`[...]`), or of the
 * array under one key of the top-level object (an API page:
 * `{"tickets": [...], "next_page": ...}`), with the line where each element
 * starts. It only tracks strings and bracket depth; the elements themselves
 * are parsed later (in a worker), so a broken element costs that element only.
 */

export interface SplitElement {
  bytes: Buffer;
  /** 1-based line where the element starts. */
  line: number;
  /** 0-based position in the array. */
  index: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const LF = 0x0a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

export class ElementSplitter {
  readonly #mode: 'array' | 'page';
  readonly #key: Buffer;
  #depth = 0;
  #inString = false;
  #escape = false;
  #line = 1;
  /** Depth of the array whose elements we emit, while inside it; -1 otherwise. */
  #container = -1;
  #foundContainer = false;
  #closedContainer = false;
  #rootClosed = false;
  #active = false;
  #parts: Buffer[] = [];
  #start = 0;
  #elemLine = 0;
  #index = 0;
  /** Bytes of the string being read at depth 1 of a page (a candidate key), or null. */
  #keyBytes: number[] | null = null;
  #lastKey = '';
  /** The page's other arrays (`users` in a page given to the tickets job), to say what the file looks like. */
  readonly #otherArrays: string[] = [];

  /** `key` is the page's array key (`tickets`), used in `page` mode. */
  constructor(mode: 'array' | 'page', key = '', firstLine = 1) {
    this.#mode = mode;
    this.#key = Buffer.from(key);
    this.#line = firstLine;
  }

  push(chunk: Buffer, out: SplitElement[]): void {
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      const c = chunk[i]!;
      if (c === LF) this.#line++;
      if (this.#inString) {
        if (this.#escape) this.#escape = false;
        else if (c === BACKSLASH) this.#escape = true;
        else if (c === QUOTE) {
          this.#inString = false;
          if (this.#keyBytes) {
            this.#lastKey = Buffer.from(this.#keyBytes).toString('utf8');
            this.#keyBytes = null;
          }
        } else if (this.#keyBytes && this.#keyBytes.length < 64) this.#keyBytes.push(c);
        continue;
      }
      if (isSpace(c)) continue;
      if (this.#container >= 0 && this.#depth === this.#container) {
        if (c === COMMA || c === CLOSE_BRACKET) {
          if (this.#active) this.#emit(chunk, i, out);
          if (c === CLOSE_BRACKET) {
            this.#depth--;
            this.#container = -1;
            this.#closedContainer = true;
          }
          continue;
        }
        if (!this.#active) {
          this.#active = true;
          this.#start = i;
          this.#parts = [];
          this.#elemLine = this.#line;
        }
      }
      if (c === QUOTE) {
        this.#inString = true;
        if (this.#mode === 'page' && this.#depth === 1 && this.#container < 0) this.#keyBytes = [];
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        this.#depth++;
        if (c === OPEN_BRACKET && !this.#foundContainer) {
          const isTarget =
            this.#mode === 'array' ? this.#depth === 1 : this.#depth === 2 && this.#lastKey === this.#key.toString('utf8');
          if (isTarget) {
            this.#container = this.#depth;
            this.#foundContainer = true;
          } else if (this.#mode === 'page' && this.#depth === 2 && this.#otherArrays.length < 5) this.#otherArrays.push(this.#lastKey);
        }
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        this.#depth--;
        if (this.#depth === 0) this.#rootClosed = true;
      }
    }
    if (this.#active) {
      this.#parts.push(chunk.subarray(this.#start));
      this.#start = 0;
    }
  }

  #emit(chunk: Buffer, end: number, out: SplitElement[]): void {
    this.#parts.push(chunk.subarray(this.#start, end));
    let bytes = this.#parts.length === 1 ? Buffer.from(this.#parts[0]!) : Buffer.concat(this.#parts);
    let e = bytes.length;
    while (e > 0 && isSpace(bytes[e - 1]!)) e--;
    bytes = bytes.subarray(0, e);
    out.push({ bytes, line: this.#elemLine, index: this.#index++ });
    this.#active = false;
    this.#parts = [];
  }

  /**
   * Call at end of input. Emits a last, unterminated element (it will fail to
   * parse and be recorded as invalid) and returns what is wrong with the
   * document as a whole, if anything.
   */
  end(out: SplitElement[]): string | undefined {
    if (this.#active) {
      this.#emit(Buffer.alloc(0), 0, out);
    }
    if (!this.#foundContainer) {
      return this.#mode === 'array'
        ? 'expected a JSON array of records'
        : `expected an API page with a "${this.#key.toString('utf8')}" array (like {"${this.#key.toString('utf8')}": [...], "next_page": ...}), found none${
            this.#otherArrays.length ? ` (it has ${this.#otherArrays.map((k) => `"${k}"`).join(', ')}: a page for another job?)` : ''
          }`;
    }
    if (this.#inString || this.#depth > 0 || !this.#closedContainer) {
      return `the file ends inside the ${this.#mode === 'array' ? 'array' : `"${this.#key.toString('utf8')}" array`} (truncated at line ${this.#line}?)`;
    }
    return undefined;
  }

  get line(): number {
    return this.#line;
  }

  get rootClosed(): boolean {
    return this.#rootClosed;
  }
}
