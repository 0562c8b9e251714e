/**
 * The simulator's control and truth endpoints under /__sim/ (not part of
 * NexusCore, no auth, never counted in stats): what tests and the demo use
 * when they drive a simulator in another process.
 *   GET  /__sim/stats                      the same JSON as sim.stats()
 *   GET  /__sim/records?type=tickets       stored records in creation order
 *   GET  /__sim/faults                     the fault settings in force
 *   POST /__sim/faults                     a partial FaultConfig
 *   POST /__sim/revoke                     {"at"?: epoch ms}: revoke every live token now or then
 *   POST /__sim/limits                     {"limits": [{"count","windowMs"} | "600/60s", ...]} ([] = no limit)
 *   POST /__sim/clients                    {"scopes": [...]} -> {"client_id","client_secret"}
 *   POST /__sim/api-keys                   {"scopes": [...], "brands"?: [...]} -> {"api_key"}
 *   POST /__sim/api-keys/revoke            {"api_key"}
 *   POST /__sim/webhook-secret/rotate      -> {"webhook_secret"}
 */
import { parseWindow } from '../duration.js';
import type { RateWindow } from '../types.js';
import { apiError, json, type Reply } from './reply.js';
import { isObject } from './schema.js';
import type { Simulator } from './types.js';
import { RESOURCE_TYPES } from './types.js';

export function handleControl(sim: Simulator, method: string, path: string, query: string, body: Buffer): Reply {
  try {
    if (method === 'GET') {
      if (path === '/__sim/stats') return json(200, sim.stats());
      if (path === '/__sim/faults') return json(200, sim.faults());
      if (path === '/__sim/records') {
        const type = new URLSearchParams(query).get('type');
        if (!RESOURCE_TYPES.includes(type as never)) return bad(`Give ?type= one of ${RESOURCE_TYPES.join(', ')}.`);
        return json(200, { [type!]: sim.records(type as never) });
      }
    }
    if (method === 'POST') {
      const input = body.length ? (JSON.parse(body.toString('utf8')) as unknown) : {};
      const obj = isObject(input) ? input : {};
      switch (path) {
        case '/__sim/faults':
          if (!isObject(input)) return bad('Send a JSON object of fault settings.');
          sim.setFaults(input);
          return json(200, sim.faults());
        case '/__sim/revoke': {
          if (obj.at !== undefined && (typeof obj.at !== 'number' || !Number.isFinite(obj.at))) return bad('`at` is epoch milliseconds.');
          sim.revokeAllTokens(obj.at as number | undefined);
          return json(200, { revoked: true, at: obj.at ?? Date.now() });
        }
        case '/__sim/limits': {
          const list = Array.isArray(input) ? input : obj.limits;
          if (!Array.isArray(list)) return bad('Send {"limits": [...]}: windows as {"count","windowMs"} or "600/60s".');
          const windows: RateWindow[] = list.map((w) => (typeof w === 'string' ? parseWindow(w, 'limits') : (w as RateWindow)));
          sim.setLimits(windows);
          return json(200, { limits: sim.stats().limits });
        }
        case '/__sim/clients': {
          const c = sim.createClient({ scopes: obj.scopes as never });
          return json(201, { client_id: c.clientId, client_secret: c.clientSecret });
        }
        case '/__sim/api-keys':
          return json(201, { api_key: sim.createApiKey({ scopes: obj.scopes as never, brands: obj.brands as never }) });
        case '/__sim/api-keys/revoke':
          if (typeof obj.api_key !== 'string') return bad('Send {"api_key": "nxk_..."}.');
          sim.revokeApiKey(obj.api_key);
          return json(200, { revoked: true });
        case '/__sim/webhook-secret/rotate':
          return json(200, { webhook_secret: sim.rotateWebhookSecret() });
      }
    }
    return apiError(404, 'not_found', `No simulator control endpoint ${method} ${path}.`);
  } catch (err) {
    return bad(err instanceof Error ? err.message : String(err));
  }
}

function bad(message: string): Reply {
  return apiError(400, 'invalid_request', message);
}
