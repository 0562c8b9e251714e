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
];

export const SCHEMA_VERSION = MIGRATIONS.length;
