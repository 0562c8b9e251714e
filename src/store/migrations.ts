/**
 * The store's schema as numbered, forward-only migrations. A store records the
 * number of the last migration applied in `PRAGMA user_version`, and carries
 * our `PRAGMA application_id` so a foreign SQLite file is never mistaken for a
 * store. Never edit a shipped migration: append a new one.
 */
import { LATENCY_BUCKETS_MS } from './metrics.js';

/** "NXBF" as a 32-bit integer: marks a SQLite file as a nexus-backfill store. */
export const APPLICATION_ID = 0x4e584246;

const histogramColumns = Array.from({ length: LATENCY_BUCKETS_MS.length + 1 }, (_, i) => `h${i} INTEGER NOT NULL DEFAULT 0`).join(',\n  ');

export const MIGRATIONS: readonly string[] = [
  // 1: the initial schema.
  `
CREATE TABLE jobs (
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
CREATE TABLE files (
  id   INTEGER PRIMARY KEY,
  path TEXT NOT NULL UNIQUE
);
-- One row per staged record. The payload is the record JSON the item is sent
-- with; once a body has been sent and its outcome is unknown (inflight, a
-- retry pending, dead) it is locked: a re-staged change waits in next_payload
-- because a different body under the same Idempotency-Key would be refused.
CREATE TABLE items (
  id              INTEGER PRIMARY KEY,
  job_id          INTEGER NOT NULL REFERENCES jobs(id),
  source_id       TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('pending','inflight','done','failed','dead','invalid')),
  mode            TEXT NOT NULL DEFAULT 'create' CHECK (mode IN ('create','update')),
  payload         BLOB,
  hash            TEXT,
  next_payload    BLOB,
  next_hash       TEXT,
  file_id         INTEGER REFERENCES files(id),
  line            INTEGER,
  elem            INTEGER,
  reason          TEXT,
  sends           INTEGER NOT NULL DEFAULT 0,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  first_sent_at   INTEGER,
  last_sent_at    INTEGER,
  err_status      INTEGER,
  err_code        TEXT,
  err_message     TEXT,
  err_body        TEXT,
  target_id       TEXT,
  staged_at       INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  done_at         INTEGER
);
CREATE UNIQUE INDEX items_key ON items (job_id, source_id);
-- The claim walks only pending items, in due order: done items are not in
-- this index at all, so its cost does not grow with them.
CREATE INDEX items_due ON items (job_id, next_attempt_at, id) WHERE state = 'pending';
-- Counts per state, export of failed items, recovery of inflight items.
CREATE INDEX items_state ON items (job_id, state, id);

CREATE TABLE id_map (
  job_id     INTEGER NOT NULL REFERENCES jobs(id),
  source_id  TEXT NOT NULL,
  target_id  TEXT NOT NULL,
  mapped_at  INTEGER NOT NULL,
  PRIMARY KEY (job_id, source_id)
) WITHOUT ROWID;

CREATE TABLE runs (
  id          TEXT PRIMARY KEY,
  started_at  INTEGER NOT NULL,
  finished_at INTEGER,
  jobs        TEXT NOT NULL,
  options     TEXT NOT NULL,
  outcome     TEXT,
  summary     TEXT,
  pid         INTEGER NOT NULL,
  host        TEXT NOT NULL
);

-- Per-second counters, added to (never replaced) so a second flushed twice
-- sums; the latency histogram has fixed buckets so percentiles can be
-- computed across runs.
CREATE TABLE metrics (
  run_id     TEXT NOT NULL,
  second     INTEGER NOT NULL,
  sends      INTEGER NOT NULL DEFAULT 0,
  r2xx       INTEGER NOT NULL DEFAULT 0,
  r4xx       INTEGER NOT NULL DEFAULT 0,
  r429       INTEGER NOT NULL DEFAULT 0,
  r5xx       INTEGER NOT NULL DEFAULT 0,
  rnet       INTEGER NOT NULL DEFAULT 0,
  done       INTEGER NOT NULL DEFAULT 0,
  ${histogramColumns},
  PRIMARY KEY (run_id, second)
) WITHOUT ROWID;

CREATE TABLE kv (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- The one-writer lock: at most one row.
CREATE TABLE writer_lock (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  pid        INTEGER NOT NULL,
  host       TEXT NOT NULL,
  proc_start TEXT,
  command    TEXT NOT NULL,
  since      INTEGER NOT NULL
);
`,
  // 2: payloads move out of the items table. An item row is now ~100 bytes
  // instead of ~1.3 KB, so a claim or an outcome rewrites a few pages rather
  // than one page per three items, and scans of items (counts, export) read
  // 10x less. The index on state for every row is replaced by a partial one
  // over the states that are neither pending (items_due covers those) nor done
  // (the bulk of a finished store): staging and claiming maintain one index
  // less per row. Foreign keys on job_id/file_id are dropped: jobs and files
  // are never deleted, and the checks cost a lookup per staged row.
  `
CREATE TABLE items_v2 (
  id              INTEGER PRIMARY KEY,
  job_id          INTEGER NOT NULL,
  source_id       TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('pending','inflight','done','failed','dead','invalid')),
  mode            TEXT NOT NULL DEFAULT 'create' CHECK (mode IN ('create','update')),
  hash            TEXT,
  next_hash       TEXT,
  file_id         INTEGER,
  line            INTEGER,
  elem            INTEGER,
  reason          TEXT,
  sends           INTEGER NOT NULL DEFAULT 0,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  first_sent_at   INTEGER,
  last_sent_at    INTEGER,
  err_status      INTEGER,
  err_code        TEXT,
  err_message     TEXT,
  err_body        TEXT,
  target_id       TEXT,
  staged_at       INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  done_at         INTEGER
);
-- The body of item id: the record JSON it is sent with (payload) and a change
-- staged while that body is locked (next_payload; see items.next_hash).
CREATE TABLE bodies (
  id           INTEGER PRIMARY KEY,
  payload      BLOB,
  next_payload BLOB
);
INSERT INTO items_v2 (id, job_id, source_id, state, mode, hash, next_hash, file_id, line, elem, reason, sends, attempts,
  next_attempt_at, first_sent_at, last_sent_at, err_status, err_code, err_message, err_body, target_id, staged_at, updated_at, done_at)
  SELECT id, job_id, source_id, state, mode, hash, next_hash, file_id, line, elem, reason, sends, attempts,
  next_attempt_at, first_sent_at, last_sent_at, err_status, err_code, err_message, err_body, target_id, staged_at, updated_at, done_at
  FROM items ORDER BY id;
INSERT INTO bodies (id, payload, next_payload) SELECT id, payload, next_payload FROM items ORDER BY id;
DROP TABLE items;
ALTER TABLE items_v2 RENAME TO items;
CREATE UNIQUE INDEX items_key ON items (job_id, source_id);
CREATE INDEX items_due ON items (job_id, next_attempt_at, id) WHERE state = 'pending';
-- inflight (recovery), failed, dead, invalid (export-failed, counts). Queries
-- repeat the WHERE clause literally so SQLite sees they may use this index.
CREATE INDEX items_open ON items (job_id, state, id) WHERE state NOT IN ('pending', 'done');
`,
  // 3: the key generation (see ClaimedItem.generation) and the durable send
  // log of the rate limiter (Store.recordSend).
  `
ALTER TABLE items ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
-- Sends per millisecond: one row per ms with a count, so same-ms sends are one
-- upsert and pruning is a range delete on the primary key.
CREATE TABLE send_log (
  at INTEGER PRIMARY KEY,
  n  INTEGER NOT NULL
) WITHOUT ROWID;
`,
  // 4: bodies of newly staged records are written in segments: the raw bytes
  // of up to 16 consecutive records in one blob, each item pointing at its
  // slice (seg_id, seg_off, seg_len). One blob per 16 records costs SQLite a
  // fraction of one B-tree row per record (measured: bodies were ~60 % of the
  // SQLite time of staging). A `bodies` row, when there is one, wins over the
  // segment: re-staged, queued and promoted bodies keep using `bodies`.
  `
CREATE TABLE segments (
  id   INTEGER PRIMARY KEY,
  data BLOB NOT NULL
);
ALTER TABLE items ADD COLUMN seg_id INTEGER;
ALTER TABLE items ADD COLUMN seg_off INTEGER;
ALTER TABLE items ADD COLUMN seg_len INTEGER;
`,
  // 5: the source-to-target id map becomes a view over items. It held what
  // items.target_id and done_at already hold (written in the same outcome
  // transaction, never apart), and writing it a second time was ~40 % of the
  // SQLite work of a `done` (measured: 10.1 vs 6.4 us per item in outcome
  // batches of 256). A target id, once an item has one, is never cleared:
  // an update keeps it as the PATCH target. Any map row whose item somehow
  // lacks its target id is copied over first, so nothing is lost.
  `
UPDATE items SET target_id = (SELECT m.target_id FROM id_map AS m WHERE m.job_id = items.job_id AND m.source_id = items.source_id)
  WHERE target_id IS NULL AND EXISTS (SELECT 1 FROM id_map AS m WHERE m.job_id = items.job_id AND m.source_id = items.source_id);
DROP TABLE id_map;
CREATE VIEW id_map (job_id, source_id, target_id, mapped_at) AS
  SELECT job_id, source_id, target_id, coalesce(done_at, updated_at) FROM items WHERE target_id IS NOT NULL;
`,
  // 6: the hash of the body NexusCore holds (the last one sent and done). A change staged after done
  // replaces items.hash; when the export goes back to what NexusCore holds (an update the API refused,
  // then the edit reverted), staging returns the item to done instead of sending it again. Done items
  // of older stores hold it in hash already; changes staged before this migration cannot be told apart.
  `
ALTER TABLE items ADD COLUMN done_hash TEXT;
UPDATE items SET done_hash = hash WHERE state = 'done';
`,
  // 7: line keys (see lineKey) name the file by its whole path, not its name alone. Each is rebuilt from its
  // item's file, line and element, which are those of the key: a reload then finds the line under the key it
  // stages it with, instead of adding it again and dropping the old one.
  `
UPDATE items SET source_id = '!' || (SELECT path FROM files WHERE files.id = items.file_id) || ':' || line || coalesce('#' || elem, '')
  WHERE source_id >= '!' AND source_id < '"' AND file_id IS NOT NULL AND line IS NOT NULL;
`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
