import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimClient, startSimulator, type SimClient, type Simulator } from '../../src/sim/index.js';

describe('sim: idempotency', () => {
  let sim: Simulator;
  let c: SimClient;
  beforeAll(async () => {
    sim = await startSimulator({ limits: [], idempotencyTtlMs: 1500 });
    c = createSimClient(sim);
  });
  afterAll(async () => {
    await c.close();
    await sim.close();
  });
  const post = (body: unknown, key: string, path = '/v1/organizations') =>
    c.send(path, { auth: sim.apiKey, body, headers: { 'idempotency-key': key } });

  it('replays the first response for the same key, method, path and body, creating nothing', async () => {
    const first = await post({ name: 'Acme', external_id: 'i-1' }, 'key-1');
    const again = await post({ name: 'Acme', external_id: 'i-1' }, 'key-1');
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.text).toBe(first.text);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(sim.records('organizations')).toHaveLength(1);
    expect(sim.stats().replays).toBe(1);
  });

  it('replays an error response too (the first outcome, whatever it was)', async () => {
    const first = await post({ external_id: 'i-bad' }, 'key-422');
    const again = await post({ external_id: 'i-bad' }, 'key-422');
    expect([first.status, again.status]).toEqual([422, 422]);
    expect(again.headers['idempotent-replayed']).toBe('true');
  });

  it('answers 422 idempotency_key_reused for a different body or path', async () => {
    await post({ name: 'Globex', external_id: 'i-2' }, 'key-2');
    const otherBody = await post({ name: 'Globex Corp', external_id: 'i-2' }, 'key-2');
    expect(otherBody.status).toBe(422);
    expect(otherBody.body.error.code).toBe('idempotency_key_reused');
    const otherPath = await post({ name: 'Globex', external_id: 'i-2' }, 'key-2', '/v1/users');
    expect(otherPath.body.error.code).toBe('idempotency_key_reused');
    expect(sim.records('organizations').filter((o) => o.external_id === 'i-2')).toHaveLength(1);
  });

  it('answers 409 idempotency_key_in_use while the first is in progress', async () => {
    sim.setFaults({ latencyMs: 300 });
    try {
      const slow = post({ name: 'Initech', external_id: 'i-3' }, 'key-3');
      await new Promise((r) => setTimeout(r, 100));
      const concurrent = await post({ name: 'Initech', external_id: 'i-3' }, 'key-3');
      expect(concurrent.status).toBe(409);
      expect(concurrent.body.error.code).toBe('idempotency_key_in_use');
      expect((await slow).status).toBe(201);
    } finally {
      sim.setFaults({ latencyMs: 0 });
    }
    const after = await post({ name: 'Initech', external_id: 'i-3' }, 'key-3');
    expect(after.headers['idempotent-replayed']).toBe('true');
    expect(sim.stats().conflicts.idempotency_key_in_use).toBe(1);
  });

  it('applies to PATCH and bulk imports as to any POST', async () => {
    const user = (await c.send('/v1/users', { auth: sim.apiKey, body: { name: 'U' } })).body;
    const t = (await c.send('/v1/tickets', { auth: sim.apiKey, body: { subject: 'S', requester_id: user.id } })).body;
    const patch = (subject: string) =>
      c.send(`/v1/tickets/${t.id}`, { method: 'PATCH', auth: sim.apiKey, body: { subject }, headers: { 'idempotency-key': 'p-1' } });
    expect((await patch('S2')).status).toBe(200);
    expect((await patch('S2')).headers['idempotent-replayed']).toBe('true');
    expect((await patch('S3')).body.error.code).toBe('idempotency_key_reused');
    const imp = { organizations: [{ name: 'B1', external_id: 'b-1' }] };
    const a = await post(imp, 'imp-1', '/v1/imports/organizations');
    const b = await post(imp, 'imp-1', '/v1/imports/organizations');
    expect(b.text).toBe(a.text);
    expect(b.headers['idempotent-replayed']).toBe('true');
  });

  it('refuses a malformed key', async () => {
    const r = await post({ name: 'X' }, 'x'.repeat(256));
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_idempotency_key');
  });

  it('forgets a key after its lifetime', async () => {
    const first = await post({ name: 'Temp', external_id: 'i-ttl' }, 'key-ttl');
    await new Promise((r) => setTimeout(r, 1600));
    const later = await post({ name: 'Temp', external_id: 'i-ttl' }, 'key-ttl');
    // Not a replay: the request ran again and met the external_id uniqueness check.
    expect(later.headers['idempotent-replayed']).toBeUndefined();
    expect(later.status).toBe(409);
    expect(later.body.error.existing_id).toBe(first.body.id);
  });
});
