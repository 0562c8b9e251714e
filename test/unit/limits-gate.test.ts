import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { createGate, type GateState, type Ticket } from '../../src/limits/gate.js';

/** A clock whose sleeps resolve only when the test advances time. */
function fakeClock(start = 0) {
  let t = start;
  let timers: { at: number; resolve: () => void }[] = [];
  const clock: Clock & { advance(ms: number): Promise<void>; timers(): number } = {
    now: () => t,
    sleep(ms, signal) {
      return new Promise<void>((resolve, reject) => {
        const entry = { at: t + Math.max(0, ms), resolve };
        timers.push(entry);
        signal?.addEventListener('abort', () => {
          timers = timers.filter((x) => x !== entry);
          reject(signal.reason);
        });
      });
    },
    async advance(ms) {
      const target = t + ms;
      for (;;) {
        await new Promise((r) => setImmediate(r));
        const due = timers.filter((x) => x.at <= target).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers = timers.filter((x) => x !== due);
        t = Math.max(t, due.at);
        due.resolve();
      }
      t = target;
      await new Promise((r) => setImmediate(r));
    },
    timers: () => timers.length,
  };
  return clock;
}

describe('gate: windows + pause + FIFO, one timer (fake clock)', () => {
  it('admits up to the window at once, the rest in FIFO order as answered slots reopen, with one timer armed', async () => {
    const clock = fakeClock();
    const gate = createGate({ windows: [{ count: 2, windowMs: 1000 }], concurrency: 10, clock, safetyMarginMs: 0 });
    const order: number[] = [];
    // Each send is answered at once (zero latency).
    const all = [0, 1, 2, 3, 4].map((i) =>
      gate.acquire().then((t) => {
        order.push(i);
        gate.observe({ ...t, status: 200 });
        return t.startedAt;
      }),
    );
    await clock.advance(0);
    expect(order).toEqual([0, 1]);
    expect(clock.timers()).toBe(1);
    await clock.advance(999);
    expect(order).toEqual([0, 1]);
    await clock.advance(1);
    expect(order).toEqual([0, 1, 2, 3]);
    await clock.advance(1000);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(await Promise.all(all)).toEqual([0, 0, 1000, 1000, 2000]);
    expect(gate.stats()).toMatchObject({ admitted: 5, waited: 3 });
    gate.close();
  });

  it('a slot reopens a window after the response (the latest the server can have counted it), not after the start', async () => {
    const clock = fakeClock();
    const gate = createGate({ windows: [{ count: 1, windowMs: 1000 }], concurrency: 10, clock, safetyMarginMs: 0 });
    const t = await gate.acquire();
    let at = -1;
    void gate.acquire().then((x) => (at = x.startedAt));
    await clock.advance(1500); // still in flight: it holds its slot however long it takes
    expect(at).toBe(-1);
    gate.observe({ ...t, status: 200 }); // answered at 1500
    await clock.advance(999);
    expect(at).toBe(-1);
    await clock.advance(1);
    expect(at).toBe(2500);
    gate.close();
  });

  it('a 429 frees its slot at once (the server did not count it); so does a start that never went out (cancel)', async () => {
    const clock = fakeClock();
    // pace: false so the lowered rate after the 429 does not space the two starts (tested in limits-window).
    const gate = createGate({ windows: [{ count: 1, windowMs: 1000 }], concurrency: 10, clock, safetyMarginMs: 0, pace: false });
    const t = await gate.acquire();
    const order: string[] = [];
    void gate.acquire().then((x) => {
      order.push(`next@${x.startedAt}`);
      gate.cancel(x);
    });
    void gate.acquire().then((x) => order.push(`third@${x.startedAt}`));
    await clock.advance(10);
    gate.observe({ ...t, status: 429, retryAfterMs: 500 });
    await clock.advance(499);
    expect(order).toEqual([]);
    await clock.advance(1);
    // The pause ended; the refused send held no slot, and the cancelled one gave its slot back.
    expect(order).toEqual(['next@510', 'third@510']);
    gate.close();
  });

  it('tryAcquire admits at once only when nobody waits and a window has room; otherwise it changes nothing', async () => {
    const clock = fakeClock();
    const gate = createGate({ windows: [{ count: 2, windowMs: 1000 }], concurrency: 10, clock, safetyMarginMs: 0 });
    const first = gate.tryAcquire();
    expect(first).toMatchObject({ startedAt: 0, seq: 1 });
    await gate.acquire();
    // The window is full: no ticket, no start recorded, no timer armed.
    expect(gate.tryAcquire()).toBeUndefined();
    expect(gate.limiter.inFlight).toBe(2);
    expect(clock.timers()).toBe(0);
    // A waiter keeps its place: tryAcquire never overtakes it, even once a slot is free.
    const waiting = gate.acquire();
    gate.observe({ ...first!, status: 201 });
    await clock.advance(999);
    expect(gate.tryAcquire()).toBeUndefined();
    await clock.advance(1);
    await expect(waiting).resolves.toMatchObject({ startedAt: 1000, seq: 3 });
    expect(gate.stats()).toMatchObject({ admitted: 3, waited: 1 });
    gate.close();
  });

  it('a request sent back with front: true goes ahead of everyone waiting', async () => {
    const clock = fakeClock();
    const gate = createGate({ windows: [{ count: 1, windowMs: 100 }], concurrency: 10, clock, safetyMarginMs: 0 });
    const order: string[] = [];
    const answer = (name: string) => (t: Ticket) => {
      order.push(name);
      gate.observe({ ...t, status: 200 });
    };
    answer('first')(await gate.acquire());
    void gate.acquire().then(answer('a'));
    void gate.acquire().then(answer('b'));
    void gate.acquire(undefined, { front: true }).then(answer('429d'));
    await clock.advance(300);
    expect(order).toEqual(['first', '429d', 'a', 'b']);
    gate.close();
  });

  it('a 429 pauses every send until Retry-After, even with window room left', async () => {
    const clock = fakeClock();
    const gate = createGate({ windows: [{ count: 100, windowMs: 1000 }], concurrency: 10, clock, safetyMarginMs: 0 });
    const t0 = await gate.acquire();
    gate.observe({ ...t0, status: 429, retryAfterMs: 2000 });
    let admittedAt = -1;
    void gate.acquire().then((t) => (admittedAt = t.startedAt));
    await clock.advance(1999);
    expect(admittedAt).toBe(-1);
    await clock.advance(1);
    expect(admittedAt).toBe(2000);
    gate.close();
  });

  it('an aborted waiter leaves the line and rejects with the signal reason', async () => {
    const clock = fakeClock();
    const gate = createGate({ windows: [{ count: 1, windowMs: 1000 }], concurrency: 10, clock, safetyMarginMs: 0 });
    gate.observe({ ...(await gate.acquire()), status: 200 });
    const ctl = new AbortController();
    const p = gate.acquire(ctl.signal);
    const next = gate.acquire();
    ctl.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
    await clock.advance(1000);
    await expect(next).resolves.toMatchObject({ startedAt: 1000 });
    expect(gate.stats().waiting).toBe(0);
    gate.close();
  });

  it('snapshot carries the sends still holding slots (in flight as now) and the learned rate; restore respects them', async () => {
    const clock = fakeClock(10_000);
    const windows = [{ count: 2, windowMs: 1000 }];
    const gate = createGate({ windows, concurrency: 10, clock, safetyMarginMs: 0 });
    gate.observe({ ...(await gate.acquire()), status: 200 });
    await clock.advance(100);
    await gate.acquire(); // in flight
    const snap = JSON.parse(JSON.stringify(gate.snapshot())) as GateState;
    expect(snap.sends).toEqual([10_000, 10_100]);
    gate.close();
    const resumed = createGate({ windows, concurrency: 10, clock, safetyMarginMs: 0, restore: snap });
    let at = -1;
    void resumed.acquire().then((t) => (at = t.startedAt));
    await clock.advance(899);
    expect(at).toBe(-1);
    await clock.advance(1);
    expect(at).toBe(11_000);
    resumed.close();
  });

  it('concurrency cap and backpressure: never more than concurrency running, ready() holds the producer', async () => {
    const clock = fakeClock();
    const gate = createGate({ windows: [], concurrency: 2, maxQueued: 3, clock });
    let running = 0;
    let peak = 0;
    const releases: (() => void)[] = [];
    const task = () =>
      new Promise<void>((resolve) => {
        running++;
        peak = Math.max(peak, running);
        releases.push(() => {
          running--;
          resolve();
        });
      });
    const done: Promise<void>[] = [];
    for (let i = 0; i < 5; i++) done.push(gate.run(task));
    await clock.advance(0);
    expect(running).toBe(2);
    expect(gate.stats().queued).toBe(3);
    let ready = false;
    void gate.ready().then(() => (ready = true));
    await clock.advance(0);
    expect(ready).toBe(false);
    releases.shift()!();
    await clock.advance(0);
    expect(ready).toBe(true);
    while (releases.length) {
      releases.shift()!();
      await clock.advance(0);
    }
    await Promise.all(done);
    expect(peak).toBe(2);
    gate.close();
  });
  it('slots: an abort rejects waiting tasks (dropped, never run); a running one runs on and settles with its own result', async () => {
    const clock = fakeClock();
    const gate = createGate({ windows: [], concurrency: 1, clock });
    const ctl = new AbortController();
    let release!: () => void;
    let ran = 0;
    const first = gate.run(() => {
      ran++;
      return new Promise<string>((resolve) => (release = () => resolve('first')));
    }, ctl.signal);
    const queued = [1, 2, 3].map(() =>
      gate.run(async () => {
        ran++;
        return 'queued';
      }, ctl.signal),
    );
    expect(gate.stats()).toMatchObject({ running: 1, queued: 3 });
    ctl.abort(new Error('stop'));
    for (const q of queued) await expect(q).rejects.toThrow('stop');
    expect(gate.stats()).toMatchObject({ running: 1, queued: 0 });
    await expect(gate.run(async () => 1, ctl.signal)).rejects.toThrow('stop');
    // The running task still holds its slot until it ends; then the next task runs.
    const later = gate.run(async () => 'later');
    expect(gate.stats().queued).toBe(1);
    release();
    await expect(first).resolves.toBe('first');
    await expect(later).resolves.toBe('later');
    expect(ran).toBe(1);
    await gate.idle();
    expect(gate.stats()).toMatchObject({ running: 0, queued: 0 });
    gate.close();
  });

  it('slots: a task that throws synchronously rejects its run and frees its slot', async () => {
    const gate = createGate({ windows: [], concurrency: 1, clock: fakeClock() });
    await expect(gate.run(() => { throw new Error('boom'); })).rejects.toThrow('boom');
    await expect(gate.run(async () => 2)).resolves.toBe(2);
    gate.close();
  });
});
