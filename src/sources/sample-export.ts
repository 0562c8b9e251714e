/**
 * A deterministic generator of Zendesk-format exports (the full JSON export's
 * NDJSON: organizations, users, tickets with comments). It makes the bundled
 * sample under data/sample/ and the large exports of the demo and benchmarks.
 * Same seed and sizes, same bytes.
 *
 * Regenerate the sample: `npx tsx src/sources/sample-export.ts [dir]`.
 */
import { createRandom } from '../random.js';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';

export interface SampleOptions {
  seed?: number;
  organizations?: number;
  /** Users; about one in eight is an agent or admin. */
  users?: number;
  tickets?: number;
  /** Comments per ticket, at most (at least 1). */
  maxComments?: number;
  /** Tickets whose requester is absent from the export (they fail, with a reason). Default 2 when tickets >= 10. */
  missingRequesters?: number;
  /** Approximate size of a ticket's description in bytes; 0 picks varied lengths (short, long, very long). */
  descriptionBytes?: number;
}

export const SAMPLE_DEFAULTS = { seed: 42, organizations: 20, users: 150, tickets: 400, maxComments: 4 } as const;

/** Ids: organizations from 360000001, users from 370000001, tickets from 1001, brands 1 and 2. */
export const ORG_BASE = 360_000_000;
export const USER_BASE = 370_000_000;
export const TICKET_BASE = 1000;
/** A requester id that no user in the export has. */
export const ABSENT_USER_ID = 379_999_900;


const WORDS = ['login', 'invoice', 'refund', 'shipping', 'password', 'export', 'billing', 'crash', 'upgrade', 'portal', 'delivery', 'account', 'report', 'sync', 'mobile', 'api'];
const NAMES = ['María José García', 'Zoë Müller', '李小龙', 'Olúwasẹ́gun Ọlábísí', 'Søren Kierkegaard', 'محمد الأحمد', 'Anaïs Nin', 'Björk Guðmundsdóttir', 'Nguyễn Văn An', 'Jürgen Groß', 'Chloé Dubois', 'Ирина Петрова', 'Kenji 田中', 'Siobhán Ní Bhriain', "O'Connor Patrick", 'Ana "Ani" Souza'];
const PHRASES = [
  'Hello team, since yesterday I cannot log in to the portal.',
  'The invoice shows the wrong VAT number — please fix it.',
  'Merci de vérifier ma commande nº 4512, elle n’est pas arrivée.',
  'Der Export bricht bei 10 000 Zeilen ab.',
  '配送状況を教えてください。',
  'The app crashes on start 😞 (iOS 17.4, build 2024.3).',
  'Can you refund the duplicate charge of €49.99?',
  'Line one\nLine two\twith a tab and a "quoted" word and a backslash \\ here.',
];
const STATUSES = ['new', 'open', 'pending', 'hold', 'solved', 'closed'] as const;
const PRIORITIES = ['low', 'normal', 'high', 'urgent', null] as const;
const TYPES = ['problem', 'incident', 'question', 'task', null] as const;
const CHANNELS = ['email', 'web', 'api', 'chat', 'voice'] as const;

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

function iso(base: number, offsetS: number): string {
  return new Date(base + offsetS * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const T0 = Date.UTC(2023, 0, 1);

export function* sampleOrganizations(o: SampleOptions = {}): Generator<Record<string, unknown>> {
  const r = createRandom((o.seed ?? SAMPLE_DEFAULTS.seed) ^ 0x0a);
  const n = o.organizations ?? SAMPLE_DEFAULTS.organizations;
  for (let i = 1; i <= n; i++) {
    const name = i % 7 === 0 ? `Société Générale d’Import ${i}` : `${pick(r, ['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark'])} ${i}`;
    yield {
      url: `https://example.zendesk.com/api/v2/organizations/${ORG_BASE + i}.json`,
      id: ORG_BASE + i,
      name,
      shared_tickets: i % 3 === 0,
      shared_comments: false,
      external_id: i % 4 === 0 ? `crm-${i}` : null,
      created_at: iso(T0, i * 3600),
      updated_at: iso(T0, i * 7200),
      domain_names: i % 5 === 0 ? [] : [`org${i}.example.com`],
      details: i % 2 ? `Customer since ${2015 + (i % 8)}; ${pick(r, PHRASES)}` : null,
      notes: i % 3 ? null : 'Key account — call before closing tickets.',
      group_id: i % 4 === 0 ? 20_000 + i : null,
      tags: i % 2 ? ['vip', `tier-${i % 3}`] : [],
      organization_fields: i % 2 ? { region: pick(r, ['emea', 'amer', 'apac']), seats: 10 * i } : {},
    };
  }
}

export function* sampleUsers(o: SampleOptions = {}): Generator<Record<string, unknown>> {
  const r = createRandom((o.seed ?? SAMPLE_DEFAULTS.seed) ^ 0x0b);
  const n = o.users ?? SAMPLE_DEFAULTS.users;
  const orgs = o.organizations ?? SAMPLE_DEFAULTS.organizations;
  for (let i = 1; i <= n; i++) {
    const role = i % 8 === 1 ? (i % 16 === 1 ? 'admin' : 'agent') : 'end-user';
    const name = `${pick(r, NAMES)} ${i}`;
    yield {
      id: USER_BASE + i,
      url: `https://example.zendesk.com/api/v2/users/${USER_BASE + i}.json`,
      name,
      email: i % 11 === 0 ? null : `user${i}@${role === 'end-user' ? `org${(i % Math.max(orgs, 1)) + 1}.example.com` : 'support.example.com'}`,
      created_at: iso(T0, i * 600),
      updated_at: iso(T0, i * 900),
      time_zone: pick(r, ['Eastern Time (US & Canada)', 'Berlin', 'Tokyo', 'London']),
      iana_time_zone: i % 5 === 0 ? null : pick(r, ['America/New_York', 'Europe/Berlin', 'Asia/Tokyo', 'Europe/London']),
      phone: i % 3 === 0 ? `+49 30 ${String(1_000_000 + i)}` : null,
      locale: pick(r, ['en-US', 'de', 'ja', 'fr']),
      organization_id: role === 'end-user' && orgs > 0 && i % 6 !== 0 ? ORG_BASE + ((i % orgs) + 1) : null,
      role,
      verified: i % 9 !== 0,
      active: true,
      suspended: i % 37 === 0,
      alias: i % 13 === 0 ? 'Ali' : null,
      details: null,
      notes: i % 10 === 0 ? 'Prefers e-mail.' : null,
      tags: i % 4 === 0 ? ['newsletter'] : [],
      user_fields: { plan: pick(r, ['free', 'pro', 'enterprise']) },
    };
  }
}

/** Agents are users whose index is 1 mod 8. */
function agentIds(users: number): number[] {
  const ids: number[] = [];
  for (let i = 1; i <= users; i += 8) ids.push(USER_BASE + i);
  return ids;
}

export function* sampleTickets(o: SampleOptions = {}): Generator<Record<string, unknown>> {
  const r = createRandom((o.seed ?? SAMPLE_DEFAULTS.seed) ^ 0x0c);
  const n = o.tickets ?? SAMPLE_DEFAULTS.tickets;
  const users = o.users ?? SAMPLE_DEFAULTS.users;
  const orgs = o.organizations ?? SAMPLE_DEFAULTS.organizations;
  const maxComments = Math.max(1, o.maxComments ?? SAMPLE_DEFAULTS.maxComments);
  const missing = o.missingRequesters ?? (n >= 10 ? 2 : 0);
  const agents = agentIds(users);
  for (let i = 1; i <= n; i++) {
    const id = TICKET_BASE + i;
    const requester = i <= missing ? ABSENT_USER_ID + i : USER_BASE + 1 + Math.floor(r() * users);
    const assignee = i % 5 === 0 || agents.length === 0 ? null : pick(r, agents);
    let description: string;
    if (o.descriptionBytes) {
      const base = `${pick(r, PHRASES)} `;
      description = base.repeat(Math.max(1, Math.round(o.descriptionBytes / Buffer.byteLength(base))));
    } else {
      description = i % 50 === 0 ? `${pick(r, PHRASES)} `.repeat(120) : i % 9 === 0 ? `${pick(r, PHRASES)} `.repeat(12) : pick(r, PHRASES);
    }
    const status = pick(r, STATUSES);
    const created = iso(T0, i * 1800);
    const comments: Record<string, unknown>[] = [];
    const nComments = o.descriptionBytes ? 1 : 1 + Math.floor(r() * maxComments);
    for (let c = 0; c < nComments; c++) {
      const author = c === 0 ? requester : c % 2 ? (assignee ?? requester) : requester;
      const body = c === 0 ? description : pick(r, PHRASES);
      if (o.descriptionBytes) {
        // Sized records (benchmarks): one short comment, no html/plain copies of the body.
        comments.push({ id: id * 100 + c, type: 'Comment', author_id: author, body: 'See the description.', public: true, created_at: iso(T0, i * 1800) });
        continue;
      }
      comments.push({
        id: id * 100 + c,
        type: 'Comment',
        author_id: author,
        body,
        html_body: `<div class="zd-comment"><p>${body.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</p></div>`,
        plain_body: body,
        public: !(c > 0 && c % 3 === 0),
        attachments: c === 1 && i % 10 === 0 ? [{ id: id * 1000, file_name: 'screenshot.png', content_url: `https://example.zendesk.com/attachments/token/${id}/?name=screenshot.png`, content_type: 'image/png', size: 48213 }] : [],
        via: { channel: c === 0 ? pick(r, CHANNELS) : 'web', source: { from: {}, to: {}, rel: null } },
        created_at: iso(T0, i * 1800 + c * 600),
      });
    }
    yield {
      url: `https://example.zendesk.com/api/v2/tickets/${id}.json`,
      id,
      external_id: i % 20 === 0 ? `legacy-${i}` : null,
      via: { channel: pick(r, CHANNELS), source: { from: { address: `user${i}@example.com` }, to: {}, rel: null } },
      created_at: created,
      updated_at: iso(T0, i * 1800 + nComments * 600),
      type: pick(r, TYPES),
      subject: i % 17 === 0 ? `Überweisung fehlgeschlagen – ${pick(r, WORDS)} #${i} 🚚` : `${pick(r, WORDS)} issue #${i}`,
      raw_subject: `${pick(r, WORDS)} issue #${i}`,
      description,
      priority: pick(r, PRIORITIES),
      status,
      recipient: i % 2 ? 'support@example.com' : null,
      requester_id: requester,
      submitter_id: requester,
      assignee_id: assignee,
      organization_id: orgs > 0 && i % 4 !== 0 ? ORG_BASE + 1 + (i % orgs) : null,
      group_id: assignee ? 20_001 : null,
      collaborator_ids: [],
      follower_ids: assignee && i % 6 === 0 ? [assignee] : [],
      email_cc_ids: [],
      forum_topic_id: null,
      problem_id: null,
      has_incidents: false,
      is_public: true,
      due_at: null,
      tags: i % 3 ? [pick(r, WORDS), 'migrated'] : [],
      custom_fields: [
        { id: 360_001, value: pick(r, ['eu', 'us', null]) },
        { id: 360_002, value: i % 2 === 0 },
      ],
      satisfaction_rating: status === 'solved' || status === 'closed' ? { score: pick(r, ['good', 'bad', 'offered']), comment: i % 4 ? null : 'Schnelle Hilfe, danke!' } : null,
      sharing_agreement_ids: [],
      fields: [
        { id: 360_001, value: null },
        { id: 360_002, value: i % 2 === 0 },
      ],
      followup_ids: [],
      ticket_form_id: 360_000_100,
      brand_id: i % 10 === 0 ? 2 : 1,
      allow_channelback: false,
      allow_attachments: true,
      comments,
    };
  }
}

/** The two brands the sample's tickets use (Zendesk brands API shape). */
export function sampleBrands(): Record<string, unknown>[] {
  return [
    { id: 1, url: 'https://example.zendesk.com/api/v2/brands/1.json', name: 'Example Support', brand_url: 'https://example.zendesk.com', subdomain: 'example', has_help_center: true, active: true, default: true, is_deleted: false },
    { id: 2, url: 'https://example.zendesk.com/api/v2/brands/2.json', name: 'Example Shop', brand_url: 'https://shop-example.zendesk.com', subdomain: 'shop-example', has_help_center: false, active: true, default: false, is_deleted: false },
  ];
}

/** Writes records as NDJSON, streaming. */
export async function writeNdjson(file: string, records: Iterable<Record<string, unknown>>): Promise<number> {
  const out = createWriteStream(file, { highWaterMark: 1024 * 1024 });
  let n = 0;
  let buf = '';
  for (const rec of records) {
    buf += `${JSON.stringify(rec)}\n`;
    n++;
    if (buf.length >= 256 * 1024) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
  return n;
}

export interface SampleFiles {
  organizations: string;
  users: string;
  tickets: string;
  brands: string;
}

/** Writes organizations.ndjson, users.ndjson, tickets.ndjson and brands.json into `dir`. Streams: fine for millions. */
export async function writeSampleExport(dir: string, o: SampleOptions = {}): Promise<SampleFiles> {
  await mkdir(dir, { recursive: true });
  const files: SampleFiles = {
    organizations: path.join(dir, 'organizations.ndjson'),
    users: path.join(dir, 'users.ndjson'),
    tickets: path.join(dir, 'tickets.ndjson'),
    brands: path.join(dir, 'brands.json'),
  };
  await writeNdjson(files.organizations, sampleOrganizations(o));
  await writeNdjson(files.users, sampleUsers(o));
  await writeNdjson(files.tickets, sampleTickets(o));
  const brands = createWriteStream(files.brands);
  brands.end(`${JSON.stringify({ brands: sampleBrands(), next_page: null, previous_page: null, count: 2 }, null, 2)}\n`);
  await once(brands, 'finish');
  return files;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const dir = process.argv[2] ?? 'data/sample';
  writeSampleExport(dir).then(
    (f) => process.stdout.write(`wrote ${Object.values(f).join(', ')}\n`),
    (err) => {
      process.stderr.write(`${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
