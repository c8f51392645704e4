-- Sync: the ledger of what syncroll put on each remote, the durable job
-- queue, and daemon-wide settings such as the global pause.

-- What syncroll uploaded, per remote and key. Deletion only ever targets
-- rows of this table: an object syncroll did not put there is never touched.
CREATE TABLE remote_objects (
    id            INTEGER PRIMARY KEY,
    remote_id     INTEGER NOT NULL REFERENCES remotes (id) ON DELETE CASCADE,
    key           TEXT    NOT NULL,
    -- BLAKE3 of the bytes actually sent.
    blake3        BLOB    NOT NULL,
    size          INTEGER NOT NULL,
    etag          TEXT,
    -- The collection whose key this is; NULL once that collection is gone
    -- (the object is then kept, never deleted by guesswork).
    collection_id INTEGER REFERENCES collections (id) ON DELETE SET NULL,
    uploaded_at   INTEGER NOT NULL,
    UNIQUE (remote_id, key)
);
CREATE INDEX remote_objects_by_hash ON remote_objects (remote_id, blake3);
-- (collection, hash) answers "is this member synced" per photo in one probe.
CREATE INDEX remote_objects_by_collection ON remote_objects (collection_id, blake3);

-- One row per unit of work. `state` is written only by the store's
-- transition function (see docs/job-states.md).
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY,
    collection_id   INTEGER REFERENCES collections (id) ON DELETE SET NULL,
    photo_id        INTEGER REFERENCES photos (id) ON DELETE SET NULL,
    remote_id       INTEGER NOT NULL REFERENCES remotes (id) ON DELETE CASCADE,
    op              TEXT    NOT NULL CHECK (op IN ('upload', 'delete')),
    key             TEXT    NOT NULL,
    blake3          BLOB,
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    bytes_done      INTEGER NOT NULL DEFAULT 0,
    bytes_total     INTEGER NOT NULL DEFAULT 0,
    -- How an upload was made: 'put' (bytes sent) or 'copy' (server-side).
    transfer        TEXT,
    last_error      TEXT    NOT NULL DEFAULT '',
    multipart_state TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- At most one live job per remote key: planning twice enqueues nothing new.
CREATE UNIQUE INDEX jobs_one_live_per_key ON jobs (remote_id, key) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_by_state ON jobs (state, next_attempt_at);
CREATE INDEX jobs_by_collection ON jobs (collection_id, state);

-- Collections gain a pause deadline: 0 not paused, -1 until resumed,
-- otherwise Unix seconds.
ALTER TABLE collections ADD COLUMN paused_until INTEGER NOT NULL DEFAULT 0;
-- Set by `sync off` without --keep-remote: the planner keeps deleting this
-- collection's ledger keys until none is left (a transfer that was already
-- landing when sync went off is cleaned up too).
ALTER TABLE collections ADD COLUMN remove_remote_copies INTEGER NOT NULL DEFAULT 0;

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
