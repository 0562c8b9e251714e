import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimClient, startSimulator, type SimClient, type Simulator } from '../../src/sim/index.js';
import { verifyWebhookSignature } from '../../src/webhook/index.js';

interface Delivery {
  raw: string;
  signature: string | undefined;
}

async function startReceiver() {
  const deliveries: Delivery[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      deliveries.push({ raw: Buffer.concat(chunks).toString('utf8'), signature: req.headers['x-nexuscore-signature'] as string | undefined });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, deliveries, close: () => new Promise((r) => server.close(r)) };
}

describe('sim: webhooks', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let sim: Simulator;
  let c: SimClient;
  beforeAll(async () => {
    receiver = await startReceiver();
    sim = await startSimulator({ limits: [], webhookUrl: receiver.url });
    c = createSimClient(sim);
  });
  afterAll(async () => {
    await c.close();
    await sim.close();
    await receiver.close();
  });

  it('delivers ticket.created, ticket.updated and user.created, signed so verifyWebhookSignature accepts them', async () => {
    const user = (await c.send('/v1/users', { auth: sim.apiKey, body: { name: 'Ann', external_id: 'wu' } })).body;
    const ticket = (await c.send('/v1/tickets', { auth: sim.apiKey, body: { subject: 'S', requester_id: user.id } })).body;
    await c.send(`/v1/tickets/${ticket.id}`, { method: 'PATCH', auth: sim.apiKey, body: { status: 'solved' } });
    await c.send('/v1/organizations', { auth: sim.apiKey, body: { name: 'no event for organizations' } });
    await sim.flushWebhooks();

    const events = receiver.deliveries.map((d) => JSON.parse(d.raw));
    expect(events.map((e) => e.type).sort()).toEqual(['ticket.created', 'ticket.updated', 'user.created']);
    for (const e of events) {
      expect(e.id).toMatch(/^evt_/);
      expect(Number.isNaN(Date.parse(e.created_at))).toBe(false);
    }
    expect(events.find((e) => e.type === 'ticket.updated').data).toMatchObject({ id: ticket.id, status: 'solved' });
    expect(events.find((e) => e.type === 'ticket.created').data.status).toBe('new');
    for (const d of receiver.deliveries) {
      expect(verifyWebhookSignature(d.raw, d.signature, sim.webhookSecret)).toMatchObject({ ok: true });
      expect(verifyWebhookSignature(d.raw, d.signature, 'whsec_wrong').ok).toBe(false);
      expect(verifyWebhookSignature(d.raw.replace('}', ' }'), d.signature, sim.webhookSecret).ok).toBe(false);
    }
    expect(sim.stats().webhooks).toMatchObject({ sent: 3, failed: 0, pending: 0 });
  });

  it('signs with both secrets while rotating', async () => {
    const old = sim.webhookSecret;
    const fresh = sim.rotateWebhookSecret();
    receiver.deliveries.length = 0;
    await c.send('/v1/users', { auth: sim.apiKey, body: { name: 'Bo' } });
    await sim.flushWebhooks();
    const d = receiver.deliveries[0]!;
    expect(d.signature?.match(/v1=/g)).toHaveLength(2);
    expect(verifyWebhookSignature(d.raw, d.signature, old).ok).toBe(true);
    expect(verifyWebhookSignature(d.raw, d.signature, fresh).ok).toBe(true);
  });

  it('keeps serving the API when the receiver is down, counting failed deliveries', async () => {
    const down = await startReceiver();
    await down.close();
    const s = await startSimulator({ limits: [], webhookUrl: down.url });
    const cc = createSimClient(s);
    try {
      const r = await cc.send('/v1/users', { auth: s.apiKey, body: { name: 'Cy' } });
      expect(r.status).toBe(201);
      await s.flushWebhooks();
      expect(s.stats().webhooks).toMatchObject({ sent: 0, failed: 1 });
      expect((await cc.send('/v1/brands', { auth: s.apiKey })).status).toBe(200);
    } finally {
      await cc.close();
      await s.close();
    }
  });
});
