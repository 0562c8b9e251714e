/**
 * A minimal abort signal: what undici and p-queue read of an AbortSignal
 * (`aborted`, `reason`, `throwIfAborted`, add/removeEventListener('abort')),
 * without an AbortController and an EventTarget per request, which cost
 * microseconds on every send. Hand it where an AbortSignal is expected only
 * to code that reads no more than these members.
 */
export class LiteSignal {
  aborted = false;
  reason: unknown = undefined;
  #listeners: ((this: unknown) => void)[] = [];

  throwIfAborted(): void {
    if (this.aborted) throw this.reason;
  }

  addEventListener(_type: 'abort', fn: () => void): void {
    if (!this.aborted) this.#listeners.push(fn);
  }

  removeEventListener(_type: 'abort', fn: () => void): void {
    const i = this.#listeners.indexOf(fn);
    if (i >= 0) this.#listeners.splice(i, 1);
  }

  /** Marks it aborted without telling the listeners yet (see fire); false when it already was. */
  mark(reason: unknown): boolean {
    if (this.aborted) return false;
    this.aborted = true;
    this.reason = reason;
    return true;
  }

  /** Tells the listeners, once. */
  fire(): void {
    const ls = this.#listeners;
    this.#listeners = [];
    for (const fn of ls) fn.call(this);
  }

  abort(reason: unknown): void {
    if (this.mark(reason)) this.fire();
  }
}
