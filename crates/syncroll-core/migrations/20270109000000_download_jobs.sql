-- Downloads are jobs (issue 11): a poll of a pulling connection queues a
-- `download` job per key to bring home, and the sync workers run it like
-- any upload: shown by `jobs` and `watch`, paused, cancelled and retried
-- with backoff the same way, and requeued after a crash (the bytes already
-- fetched are kept and the download continues by a range request).
-- A download job has no rel_path (planning never reads it) and no photo
-- until it lands; `jobs_one_live_per_key` keeps an upload and a download
-- of one key from running together.
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt
-- with its indexes and triggers, exactly as they were, plus one index: the
-- poll looks up the download jobs of the keys it decided.

CREATE TABLE jobs_new (
    id              INTEGER PRIMARY KEY,
    collection_id   INTEGER REFERENCES collections (id) ON DELETE SET NULL,
    photo_id        INTEGER REFERENCES photos (id) ON DELETE SET NULL,
    remote_id       INTEGER NOT NULL REFERENCES remotes (id) ON DELETE CASCADE,
    op              TEXT    NOT NULL CHECK (op IN ('upload', 'delete', 'download')),
    key             TEXT    NOT NULL,
    blake3          BLOB,
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'cancelling', 'held',
                                                      'done', 'failed', 'cancelled', 'dismissed',
                                                      'left')),
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
                      multipart_state, created_at, updated_at, rel_path, hold_id)
SELECT id, collection_id, photo_id, remote_id, op, key, blake3, state, attempts,
       next_attempt_at, bytes_done, bytes_total, transfer, last_error,
       multipart_state, created_at, updated_at, rel_path, hold_id
FROM jobs;

-- Its triggers go with it; `job_tallies` already counts these rows.
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;

CREATE UNIQUE INDEX jobs_one_live_per_key ON jobs (remote_id, key)
    WHERE state IN ('queued', 'running', 'cancelling', 'held');
CREATE INDEX jobs_by_state ON jobs (state, next_attempt_at);
CREATE INDEX jobs_by_collection ON jobs (collection_id, state);
CREATE INDEX jobs_by_path ON jobs (collection_id, rel_path);
CREATE INDEX jobs_runnable ON jobs (collection_id, next_attempt_at, id) WHERE state = 'queued';
CREATE INDEX jobs_with_upload_state ON jobs (id) WHERE multipart_state IS NOT NULL;
CREATE INDEX jobs_by_hold ON jobs (hold_id) WHERE hold_id IS NOT NULL;
CREATE INDEX jobs_downloads ON jobs (remote_id, key) WHERE op = 'download';
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
