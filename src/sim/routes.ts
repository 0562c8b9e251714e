/**
 * The API's routing table (docs/nexuscore-api.md, Resources): method and path
 * to the scope needed and the operation. Beyond the doc, and noted as such:
 * `GET /v1/users|organizations?external_id=` and `GET|PATCH
 * /v1/users|organizations/{id}` work like their ticket counterparts, because
 * the runner settles unknown outcomes and sends updates for every resource.
 */
import type { Scope } from '../types.js';
import type { Principal } from './credentials.js';
import type { Reply } from './reply.js';
import type { Outcome, RecordStore } from './store.js';
import type { ResourceType } from './types.js';

export type Route =
  | {
      kind: 'ok';
      scope: Scope;
      /** Has a JSON body and honours Idempotency-Key (POST and PATCH). */
      write: boolean;
      /** Set for bulk imports: the collection imported. */
      importOf?: ResourceType;
      run(store: RecordStore, body: unknown, who: Principal, query: string): Outcome;
    }
  | { kind: 'not_found' }
  | { kind: 'method_not_allowed'; allow: string };

const READ: Record<ResourceType, Scope> = { tickets: 'tickets:read', users: 'users:read', organizations: 'users:read' };
const WRITE: Record<ResourceType, Scope> = { tickets: 'tickets:write', users: 'users:write', organizations: 'users:write' };

const asOutcome = (reply: Reply): Outcome => ({ reply, events: [], conflicts: [] });
const isType = (s: string | undefined): s is ResourceType => s === 'tickets' || s === 'users' || s === 'organizations';

export function resolveRoute(method: string, path: string): Route {
  const parts = path.split('/');
  if (parts[0] !== '' || parts[1] !== 'v1') return { kind: 'not_found' };
  const [, , first, second, third] = parts;
  if (third !== undefined) return { kind: 'not_found' };

  if (first === 'brands' && second === undefined) {
    if (method !== 'GET') return { kind: 'method_not_allowed', allow: 'GET' };
    return { kind: 'ok', scope: 'brands:read', write: false, run: (s, _b, who) => asOutcome(s.brands(who)) };
  }
  if (first === 'imports' && isType(second)) {
    if (method !== 'POST') return { kind: 'method_not_allowed', allow: 'POST' };
    return { kind: 'ok', scope: WRITE[second], write: true, importOf: second, run: (s, b, who) => s.bulkImport(second, b, who) };
  }
  if (!isType(first)) return { kind: 'not_found' };
  const type = first;
  if (second === undefined) {
    if (method === 'POST') return { kind: 'ok', scope: WRITE[type], write: true, run: (s, b, who) => s.create(type, b, who) };
    if (method === 'GET') {
      return {
        kind: 'ok',
        scope: READ[type],
        write: false,
        run: (s, _b, who, query) => asOutcome(s.findByExternalId(type, new URLSearchParams(query).get('external_id'), who)),
      };
    }
    return { kind: 'method_not_allowed', allow: 'GET, POST' };
  }
  if (second === '') return { kind: 'not_found' };
  let id: string;
  try {
    id = decodeURIComponent(second);
  } catch {
    return { kind: 'not_found' };
  }
  if (method === 'GET') return { kind: 'ok', scope: READ[type], write: false, run: (s, _b, who) => asOutcome(s.get(type, id, who)) };
  if (method === 'PATCH') return { kind: 'ok', scope: WRITE[type], write: true, run: (s, b, who) => s.update(type, id, b, who) };
  return { kind: 'method_not_allowed', allow: 'GET, PATCH' };
}
