-- The deletion brake, and job states that say what the old `held` flag
-- meant (see docs/job-states.md):
-- - `held`: a delete the brake holds for the user's decision (`hold_id`);
-- - `cancelling`: running, and the user asked to cancel it (was
--   `running` + held);
-- - `dismissed`: cancelled by the user, or a held delete the user rejected:
--   the same work is not planned again until `retry` or the photo changes
--   (was `cancelled` + held).
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt
-- (its indexes and triggers with it) and the flag folded into the state.

-- A set of deletions the brake stopped, waiting for `holds approve` or
-- `holds reject`. Its keys are the jobs with its id.
CREATE TABLE holds (
    id            INTEGER PRIMARY KEY,
    collection_id INTEGER REFERENCES collections (id) ON DELETE SET NULL,
    state         TEXT    NOT NULL DEFAULT 'pending'
                          CHECK (state IN ('pending', 'approved', 'rejected', 'withdrawn')),
    -- Copies the collection had on its remote when the brake tripped.
    synced_copies INTEGER NOT NULL,
    -- The first deletion counted in the window that tripped the brake.
    window_start  INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    decided_at    INTEGER,
    -- What was held when the hold was decided (while pending, its jobs in
    -- state `held` say it): deletions by cause, and their bytes.
    vanished      INTEGER NOT NULL DEFAULT 0,
    left_collection INTEGER NOT NULL DEFAULT 0,
    bytes         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX holds_pending ON holds (collection_id) WHERE state = 'pending';

-- Deletions planned per collection, for the brake's window: a slow drip
-- adds up. Rows older than the window are removed as planning goes.
CREATE TABLE deletion_log (
    id            INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    at            INTEGER NOT NULL,
    deletions     INTEGER NOT NULL,
    synced_copies INTEGER NOT NULL
);
CREATE INDEX deletion_log_by_collection ON deletion_log (collection_id, at);

CREATE TABLE jobs_new (
    id              INTEGER PRIMARY KEY,
    collection_id   INTEGER REFERENCES collections (id) ON DELETE SET NULL,
    photo_id        INTEGER REFERENCES photos (id) ON DELETE SET NULL,
    remote_id       INTEGER NOT NULL REFERENCES remotes (id) ON DELETE CASCADE,
    op              TEXT    NOT NULL CHECK (op IN ('upload', 'delete')),
    key             TEXT    NOT NULL,
    blake3          BLOB,
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'cancelling', 'held',
                                                      'done', 'failed', 'cancelled', 'dismissed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    bytes_done      INTEGER NOT NULL DEFAULT 0,
    bytes_total     INTEGER NOT NULL DEFAULT 0,
    transfer        TEXT,
    last_error      TEXT    NOT NULL DEFAULT '',
    multipart_state TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    rel_path        BLOB,
    hold_id         INTEGER REFERENCES holds (id) ON DELETE SET NULL
);

INSERT INTO jobs_new (id, collection_id, photo_id, remote_id, op, key, blake3, state, attempts,
                      next_attempt_at, bytes_done, bytes_total, transfer, last_error,
                      multipart_state, created_at, updated_at, rel_path)
SELECT id, collection_id, photo_id, remote_id, op, key, blake3,
       CASE WHEN held = 1 AND state = 'running' THEN 'cancelling'
            WHEN held = 1 AND state = 'cancelled' THEN 'dismissed'
            ELSE state END,
       attempts, next_attempt_at, bytes_done, bytes_total, transfer, last_error,
       multipart_state, created_at, updated_at, rel_path
FROM jobs;

DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;

-- At most one live job per remote key: planning twice enqueues nothing new,
-- and a held delete keeps an upload of the same key from being queued.
CREATE UNIQUE INDEX jobs_one_live_per_key ON jobs (remote_id, key)
    WHERE state IN ('queued', 'running', 'cancelling', 'held');
CREATE INDEX jobs_by_state ON jobs (state, next_attempt_at);
CREATE INDEX jobs_by_collection ON jobs (collection_id, state);
CREATE INDEX jobs_by_path ON jobs (collection_id, rel_path);
CREATE INDEX jobs_runnable ON jobs (collection_id, next_attempt_at, id) WHERE state = 'queued';
CREATE INDEX jobs_with_upload_state ON jobs (id) WHERE multipart_state IS NOT NULL;
CREATE INDEX jobs_by_hold ON jobs (hold_id) WHERE hold_id IS NOT NULL;

-- The tallies, recounted under the new state names, and their triggers
-- (dropped with the old table), now counting held deletions too.
DELETE FROM job_tallies;
INSERT INTO job_tallies (collection_id, state, jobs, bytes_pending)
    SELECT IFNULL(collection_id, 0), state, COUNT(*),
           SUM(CASE WHEN state IN ('queued', 'running') AND op = 'upload'
                    THEN bytes_total - bytes_done ELSE 0 END)
    FROM jobs GROUP BY IFNULL(collection_id, 0), state;

CREATE TRIGGER job_tally_added AFTER INSERT ON jobs
BEGIN
    INSERT INTO job_tallies (collection_id, state, jobs, bytes_pending)
    VALUES (IFNULL(NEW.collection_id, 0), NEW.state, 1,
            CASE WHEN NEW.state IN ('queued', 'running') AND NEW.op = 'upload'
                 THEN NEW.bytes_total - NEW.bytes_done ELSE 0 END)
    ON CONFLICT (collection_id, state) DO UPDATE
        SET jobs = jobs + 1, bytes_pending = bytes_pending + excluded.bytes_pending;
END;

CREATE TRIGGER job_tally_removed AFTER DELETE ON jobs
BEGIN
    UPDATE job_tallies
    SET jobs = jobs - 1,
        bytes_pending = bytes_pending - CASE WHEN OLD.state IN ('queued', 'running') AND OLD.op = 'upload'
                                             THEN OLD.bytes_total - OLD.bytes_done ELSE 0 END
    WHERE collection_id = IFNULL(OLD.collection_id, 0) AND state = OLD.state;
END;

CREATE TRIGGER job_tally_changed
AFTER UPDATE OF state, collection_id, op, bytes_total, bytes_done ON jobs
BEGIN
    UPDATE job_tallies
    SET jobs = jobs - 1,
        bytes_pending = bytes_pending - CASE WHEN OLD.state IN ('queued', 'running') AND OLD.op = 'upload'
                                             THEN OLD.bytes_total - OLD.bytes_done ELSE 0 END
    WHERE collection_id = IFNULL(OLD.collection_id, 0) AND state = OLD.state;
    INSERT INTO job_tallies (collection_id, state, jobs, bytes_pending)
    VALUES (IFNULL(NEW.collection_id, 0), NEW.state, 1,
            CASE WHEN NEW.state IN ('queued', 'running') AND NEW.op = 'upload'
                 THEN NEW.bytes_total - NEW.bytes_done ELSE 0 END)
    ON CONFLICT (collection_id, state) DO UPDATE
        SET jobs = jobs + 1, bytes_pending = bytes_pending + excluded.bytes_pending;
END;

-- A pending hold's counts, kept as its deletions join it and leave it (the
-- photo came back), so `status` reads them from its row however many keys
-- it holds. Frozen once it is decided: its state is set before its jobs
-- move on. The reason texts are `store/holds.rs`'s VANISHED and LEFT.
CREATE TRIGGER hold_tally_joined AFTER INSERT ON jobs
WHEN NEW.state = 'held' AND NEW.hold_id IS NOT NULL
BEGIN
    UPDATE holds SET
        vanished = vanished + (NEW.last_error = 'its photo vanished from disk'),
        left_collection = left_collection + (NEW.last_error <> 'its photo vanished from disk'),
        bytes = bytes + COALESCE((SELECT size FROM remote_objects
                                  WHERE remote_id = NEW.remote_id AND key = NEW.key), 0)
    WHERE id = NEW.hold_id AND state = 'pending';
END;

CREATE TRIGGER hold_tally_left AFTER UPDATE OF state ON jobs
WHEN OLD.state = 'held' AND NEW.state <> 'held' AND OLD.hold_id IS NOT NULL
BEGIN
    UPDATE holds SET
        vanished = vanished - (OLD.last_error = 'its photo vanished from disk'),
        left_collection = left_collection - (OLD.last_error <> 'its photo vanished from disk'),
        bytes = bytes - COALESCE((SELECT size FROM remote_objects
                                  WHERE remote_id = OLD.remote_id AND key = OLD.key), 0)
    WHERE id = OLD.hold_id AND state = 'pending';
END;
