import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimClient, startSimulator, type SimClient, type Simulator } from '../../src/sim/index.js';

describe('sim: faults', () => {
  let sim: Simulator;
  let c: SimClient;
  beforeAll(async () => {
    sim = await startSimulator({ limits: [] });
    c = createSimClient(sim);
  });
  afterAll(async () => {
    await c.close();
    await sim.close();
  });
  const create = (externalId: string, key?: string, signal?: AbortSignal) =>
    c.send('/v1/organizations', {
      auth: sim.apiKey,
      body: { name: 'Org', external_id: externalId },
      headers: key ? { 'idempotency-key': key } : {},
      signal,
    });

  it.each([
    ['error500', 500],
    ['error502', 502],
    ['error503', 503],
  ] as const)('%s answers %i before anything is stored; a resend with the key runs afresh', async (fault, status) => {
    sim.setFaults({ [fault]: 1 });
    const r = await create(`f-${fault}`, `k-${fault}`);
    sim.setFaults({ [fault]: 0 });
    expect(r.status).toBe(status);
    expect(r.body.error.code).toBe('upstream_error');
    expect(sim.stats().externalIds.organizations[`f-${fault}`]).toBeUndefined();
    const resend = await create(`f-${fault}`, `k-${fault}`);
    expect(resend.status).toBe(201);
    expect(resend.headers['idempotent-replayed']).toBeUndefined();
    expect(sim.stats().faults[fault]).toBe(1);
  });

  it('store-then-drop stores the record and the key, then closes without a response', async () => {
    sim.setFaults({ storeThenDrop: 1 });
    const err = await create('f-drop', 'k-drop').then(
      () => null,
      (e: Error) => e,
    );
    sim.setFaults({ storeThenDrop: 0 });
    expect(err).toBeInstanceOf(Error);
    expect(sim.stats().externalIds.organizations['f-drop']).toBe(1);
    const resend = await create('f-drop', 'k-drop');
    expect(resend.status).toBe(201);
    expect(resend.headers['idempotent-replayed']).toBe('true');
    expect(sim.stats().externalIds.organizations['f-drop']).toBe(1);
    // Without the key, the resend meets the external_id check instead.
    const keyless = await create('f-drop');
    expect(keyless.status).toBe(409);
    expect(keyless.body.error.existing_id).toBe(resend.body.id);
  });

  it('reset-before-store resets the connection and stores nothing', async () => {
    sim.setFaults({ resetBeforeStore: 1 });
    const err = await create('f-reset', 'k-reset').then(
      () => null,
      (e: Error & { code?: string }) => e,
    );
    sim.setFaults({ resetBeforeStore: 0 });
    expect(err?.code).toBe('ECONNRESET');
    expect(sim.stats().externalIds.organizations['f-reset']).toBeUndefined();
    const resend = await create('f-reset', 'k-reset');
    expect(resend.status).toBe(201);
    expect(resend.headers['idempotent-replayed']).toBeUndefined();
  });

  it('hang never answers until the client gives up, and stores nothing', async () => {
    sim.setFaults({ hang: 1 });
    const err = await create('f-hang', 'k-hang', AbortSignal.timeout(300)).then(
      () => null,
      (e: Error) => e,
    );
    sim.setFaults({ hang: 0 });
    expect(err?.name).toMatch(/AbortError|TimeoutError/);
    expect(sim.stats().faults.hang).toBe(1);
    expect(sim.stats().externalIds.organizations['f-hang']).toBeUndefined();
    // The abandoned key is released once the client's socket closes.
    await new Promise((r) => setTimeout(r, 50));
    expect((await create('f-hang', 'k-hang')).status).toBe(201);
  });

  it('adds latency and jitter', async () => {
    sim.setFaults({ latencyMs: 150, jitterMs: 50 });
    const t0 = performance.now();
    await c.send('/v1/brands', { auth: sim.apiKey });
    const took = performance.now() - t0;
    sim.setFaults({ latencyMs: 0, jitterMs: 0 });
    expect(took).toBeGreaterThanOrEqual(149);
  });

  it('draws faults from a seeded PRNG: the same seed gives the same sequence', async () => {
    const run = async () => {
      const s = await startSimulator({ limits: [], seed: 42, faults: { error503: 0.3, error500: 0.2 } });
      const cc = createSimClient(s);
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) statuses.push((await cc.send('/v1/brands', { auth: s.apiKey })).status);
      await cc.close();
      await s.close();
      return statuses;
    };
    const a = await run();
    const b = await run();
    expect(a).toEqual(b);
    expect(new Set(a)).toEqual(new Set([200, 500, 503]));
  });

  it('sets faults over the control endpoint and refuses bad ones', async () => {
    await c.setFaults({ error502: 1 });
    expect((await c.send('/v1/brands', { auth: sim.apiKey })).status).toBe(502);
    await c.setFaults({ error502: 0 });
    expect((await c.send('/v1/brands', { auth: sim.apiKey })).status).toBe(200);
    const bad = await c.send('/__sim/faults', { method: 'POST', body: { error500: 2 } });
    expect(bad.status).toBe(400);
    expect(() => sim.setFaults({ error500: 0.7, hang: 0.7 })).toThrow(/add up to/);
  });

  it('closes promptly with a hung request outstanding', async () => {
    const s = await startSimulator({ limits: [], faults: { hang: 1 } });
    const cc = createSimClient(s);
    const pending = cc.send('/v1/brands', { auth: s.apiKey }).then(
      () => 'answered',
      () => 'failed',
    );
    await new Promise((r) => setTimeout(r, 100));
    await s.close();
    expect(await pending).toBe('failed');
    await cc.close();
  });
});
