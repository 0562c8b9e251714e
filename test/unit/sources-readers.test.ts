import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Store } from '../../src/store/index.js';
import { loadJobs, findJob, type LoadedJob } from '../../src/sources/job-loader.js';
import { stageFiles } from '../../src/sources/stage.js';
import { ElementSplitter, type SplitElement } from '../../src/sources/json-splitter.js';

let dir: string;
let tickets: LoadedJob;
let brands: LoadedJob;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nb-readers-'));
  const jobs = await loadJobs();
  tickets = findJob(jobs, 'zendesk-tickets');
  brands = findJob(jobs, 'zendesk-brands');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const t = (id: number, extra: Record<string, unknown> = {}) => ({ id, status: 'open', subject: `Ticket ${id} — ünïcode ✓`, requester_id: 10, ...extra });

let n = 0;
function freshStore(): Store {
  return openStore(path.join(dir, `s${n++}.sqlite`), { mode: 'writer' });
}

function write(name: string, content: string | Buffer, gz = false): string {
  const file = path.join(dir, name);
  writeFileSync(file, gz ? gzipSync(content) : content);
  return file;
}

function items(store: Store, job = 'zendesk-tickets') {
  const out: Record<string, { state: string; line: number | null; index: number | null; reason: string | null; file: string | null }> = {};
  for (const i of store.iterateItems(job, ['pending', 'invalid'])) out[i.sourceId] = { state: i.state, line: i.line, index: i.index, reason: i.reason, file: i.file };
  return out;
}

describe('formats', () => {
  const three = [t(1), t(2), t(3)];
  const cases: [string, string, number[], (number | null)[]][] = [
    ['ndjson', three.map((r) => JSON.stringify(r)).join('\n') + '\n', [1, 2, 3], [null, null, null]],
    ['array', JSON.stringify(three, null, 2), [2, 8, 14], [0, 1, 2]],
    ['array-one-line', JSON.stringify(three), [1, 1, 1], [0, 1, 2]],
    ['page', JSON.stringify({ tickets: three, next_page: 'https://x.zendesk.com/api/v2/tickets.json?page=2', count: 3 }, null, 2), [3, 9, 15], [0, 1, 2]],
    ['page-one-line', JSON.stringify({ count: 3, tickets: three, next_page: null, end_of_stream: true }), [1, 1, 1], [0, 1, 2]],
  ];
  for (const [name, content, lines, indexes] of cases) {
    for (const gz of [false, true]) {
      it(`${name}${gz ? '.gz' : ''}`, async () => {
        const file = write(`${name}${gz ? '.gz' : ''}`, content, gz);
        const store = freshStore();
        const r = await stageFiles({ store, job: tickets, files: [file], workers: 0 });
        expect(r.counts).toEqual({ new: 3, unchanged: 0, changed: 0, invalid: 0 });
        expect(r.files[0]!.format).toBe(name.split('-')[0]);
        const got = items(store);
        expect(Object.keys(got)).toEqual(['1', '2', '3']);
        expect(Object.values(got).map((i) => i.line)).toEqual(lines);
        expect(Object.values(got).map((i) => i.index)).toEqual(indexes);
        store.close();
      });
    }
  }

  it('several page files at once, and users/brands pages by their own key', async () => {
    const p1 = write('p1.json', JSON.stringify({ tickets: [t(1), t(2)], next_page: 'p2' }));
    const p2 = write('p2.json.gz', JSON.stringify({ tickets: [t(3)], next_page: null, end_of_stream: true }), true);
    const store = freshStore();
    const r = await stageFiles({ store, job: tickets, files: [p1, p2], workers: 0 });
    expect(r.counts.new).toBe(3);
    expect(items(store)['3']!.file).toBe(p2);
    const b = write('brands.json', JSON.stringify({ brands: [{ id: 1, name: 'A', subdomain: 'a' }], next_page: null }, null, 2));
    expect((await stageFiles({ store, job: brands, files: [b], workers: 0 })).counts.new).toBe(1);
    expect([...store.iterateRecords('zendesk-brands')]).toEqual([{ sourceId: '1', record: { id: 1, name: 'A', subdomain: 'a' } }]);
    store.close();
  });

  it('a one-line page of users given to the tickets job is a page without tickets, not a ticket without an id', async () => {
    const users = write('users-page.json', JSON.stringify({ users: [{ id: 7, name: 'A' }], next_page: null, end_of_stream: true }));
    const store = freshStore();
    const r = await stageFiles({ store, job: tickets, files: [users], workers: 0 });
    expect(r.files[0]!.format).toBe('page');
    expect(r.counts).toEqual({ new: 0, unchanged: 0, changed: 0, invalid: 1 });
    expect(Object.values(items(store)).map((i) => i.reason)).toEqual([expect.stringMatching(/expected an API page with a "tickets" array .*found none \(it has "users": a page for another job\?\)$/)]);
    store.close();
  });

  it('the splitter gives the same elements whatever the chunk boundaries', () => {
    const doc = Buffer.from(JSON.stringify({ a: '[not, this]', tickets: [t(1), { id: 2, s: 'a\\"],[' }, 3, 'x,y', [1, [2]]], next_page: null }, null, 1));
    const run = (size: number) => {
      const s = new ElementSplitter('page', 'tickets');
      const out: SplitElement[] = [];
      for (let i = 0; i < doc.length; i += size) s.push(doc.subarray(i, i + size), out);
      expect(s.end(out)).toBeUndefined();
      return out.map((e) => [e.bytes.toString(), e.line, e.index]);
    };
    const whole = run(doc.length);
    expect(whole.map((e) => JSON.parse(e[0] as string))).toEqual([t(1), { id: 2, s: 'a\\"],[' }, 3, 'x,y', [1, [2]]]);
    expect(run(1)).toEqual(whole);
    expect(run(7)).toEqual(whole);
  });
});

describe('the bad-input corpus', () => {
  it('records every bad line as invalid with its exact file:line, and stages the good ones', async () => {
    const big = JSON.stringify(t(7, { description: 'ä'.repeat(1_000_000) })); // a 2 MB line
    const lines: (string | Buffer)[] = [
      `\uFEFF${JSON.stringify(t(1))}\r\n`, // 1: BOM, CRLF
      `${JSON.stringify(t(2))}\r\n`, // 2
      '\r\n', // 3: blank
      '{"id": 3, "status": "open"\n', // 4: truncated JSON
      '42\n', // 5: a number
      '[{"id": 4, "status": "open"}]\n', // 6: an array where an object belongs
      '{"status": "open"}\n', // 7: missing id
      '{"id": "abc", "status": "open"}\n', // 8: non-numeric id
      '{"id": 5, "status": "deleted"}\n', // 9: unknown status
      Buffer.concat([Buffer.from('{"id": 6, "status": "open", "subject": "'), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from('"}\n')]), // 10: invalid UTF-8
      `${big}\n`, // 11: 2 MB line
      '   \n', // 12: blank
      JSON.stringify(t(8)), // 13: no newline at the end
    ];
    const file = write('bad.ndjson', Buffer.concat(lines.map((l) => (typeof l === 'string' ? Buffer.from(l) : l))));
    const store = freshStore();
    const r = await stageFiles({ store, job: tickets, files: [file], workers: 0, commitEvery: 3 });
    expect(r.counts).toEqual({ new: 4, unchanged: 0, changed: 0, invalid: 7 });
    const got = items(store);
    expect(Object.fromEntries(Object.entries(got).map(([k, v]) => [k, [v.state, v.line]]))).toEqual({
      '1': ['pending', 1],
      '2': ['pending', 2],
      [`!${file}:4`]: ['invalid', 4],
      [`!${file}:5`]: ['invalid', 5],
      [`!${file}:6`]: ['invalid', 6],
      [`!${file}:7`]: ['invalid', 7],
      [`!${file}:8`]: ['invalid', 8],
      '5': ['invalid', 9],
      [`!${file}:10`]: ['invalid', 10],
      '7': ['pending', 11],
      '8': ['pending', 13],
    });
    expect(got[`!${file}:4`]!.reason).toMatch(/not valid JSON/);
    expect(got[`!${file}:5`]!.reason).toBe('expected a JSON object, got a number');
    expect(got[`!${file}:6`]!.reason).toBe('expected a JSON object, got an array');
    expect(got[`!${file}:7`]!.reason).toMatch(/id is missing/);
    expect(got[`!${file}:8`]!.reason).toMatch(/id must be an integer Zendesk id, got "abc"/);
    expect(got['5']!.reason).toMatch(/status "deleted" is not one of new, open, pending, hold, solved, closed/);
    expect(got[`!${file}:10`]!.reason).toMatch(/not valid UTF-8/);
    expect(JSON.parse(store.getItem('zendesk-tickets', '7')!.payload!).description).toHaveLength(1_000_000);
    expect(Object.values(got).every((i) => i.file === file)).toBe(true);
    store.close();
  });

  it('a truncated array keeps its complete elements and says where it broke', async () => {
    const file = write('cut.json', JSON.stringify([t(1), t(2)], null, 2).slice(0, -40));
    const store = freshStore();
    const r = await stageFiles({ store, job: tickets, files: [file], workers: 0 });
    expect(r.counts.new).toBe(1);
    const bad = Object.entries(items(store)).filter(([, v]) => v.state === 'invalid');
    expect(bad.map(([, v]) => v.reason)).toEqual([expect.stringMatching(/not valid JSON/), expect.stringMatching(/ends inside the array/)]);
    store.close();
  });
});

describe('re-staging', () => {
  it('adds nothing for the same content and reports changes by content', async () => {
    const store = freshStore();
    const a = write('a.ndjson', [t(1), t(2), t(3)].map((x) => JSON.stringify(x)).join('\n'));
    expect((await stageFiles({ store, job: tickets, files: [a], workers: 0 })).counts).toEqual({ new: 3, unchanged: 0, changed: 0, invalid: 0 });
    expect((await stageFiles({ store, job: tickets, files: [a], workers: 0 })).counts).toEqual({ new: 0, unchanged: 3, changed: 0, invalid: 0 });
    // ticket 1 done, then a newer export changes 1 and 2 and adds 4
    const [one] = store.claimDue('zendesk-tickets', 1, Date.now());
    store.recordOutcomes({ outcomes: [{ id: one!.id, kind: 'done', targetId: 'NX-1' }] });
    const b = write('b.ndjson', [t(1, { status: 'solved' }), t(2, { status: 'pending' }), t(3), t(4)].map((x) => JSON.stringify(x)).join('\n'));
    expect((await stageFiles({ store, job: tickets, files: [b], workers: 0 })).counts).toEqual({ new: 1, unchanged: 1, changed: 2, invalid: 0 });
    expect(store.getItem('zendesk-tickets', '1')).toMatchObject({ state: 'pending', mode: 'update', targetId: 'NX-1' });
    expect(store.getItem('zendesk-tickets', '2')).toMatchObject({ state: 'pending', mode: 'create', file: b });
    store.close();
  });

  it('keeps the bad lines of two exports named alike in different folders apart, also when one is loaded again', async () => {
    const store = freshStore();
    const files = ['2023', '2024'].map((folder) => {
      mkdirSync(path.join(dir, folder), { recursive: true });
      return write(path.join(folder, 'tickets.ndjson'), `${JSON.stringify(t(Number(folder)))}\n{"status": "open", "subject": "${folder}"}\n`);
    });
    const r = await stageFiles({ store, job: tickets, files, workers: 0 });
    expect(r.counts).toEqual({ new: 2, unchanged: 0, changed: 0, invalid: 2 });
    const bad = () =>
      Object.entries(items(store))
        .filter(([, v]) => v.state === 'invalid')
        .map(([k, v]) => [k, v.file, v.line]);
    const both = files.map((f) => [`!${f}:2`, f, 2]);
    expect(bad()).toEqual(both);
    // Loading the 2024 file again drops none of the 2023 file's bad lines (they are not its lines).
    const again = await stageFiles({ store, job: tickets, files: [files[1]!], workers: 0 });
    expect(again.counts).toEqual({ new: 0, unchanged: 1, changed: 0, invalid: 1 });
    expect(again.files[0]!.cleared).toBe(0);
    expect(bad()).toEqual(both);
    expect(JSON.parse(store.getItem('zendesk-tickets', `!${files[0]}:2`)!.payload!).subject).toBe('2023');
    store.close();
  });
});
