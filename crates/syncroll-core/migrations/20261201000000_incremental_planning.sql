-- Incremental planning: a change plans only what it touches.
--
-- The unit of planning is a *path group*: one collection and one path
-- relative to a root. Every key a collection can use for that path (the
-- plain key, and the `~r<root>` keys of photos of other roots with the same
-- path) belongs to the group, so planning a group on its own decides exactly
-- what planning the whole collection would decide for those keys.
--
-- Jobs and ledger rows carry the group's path, so a group's jobs and ledger
-- rows are found by index, not by reading the whole collection.
ALTER TABLE jobs ADD COLUMN rel_path BLOB;
ALTER TABLE remote_objects ADD COLUMN rel_path BLOB;

UPDATE jobs SET rel_path = (SELECT p.rel_path FROM photos p WHERE p.id = jobs.photo_id)
    WHERE photo_id IS NOT NULL;
-- The ledger learns its paths from the uploads that put the keys there; rows
-- this cannot name are named from their keys at start-up (Store::open).
UPDATE remote_objects SET rel_path = (
    SELECT j.rel_path FROM jobs j
    WHERE j.remote_id = remote_objects.remote_id AND j.key = remote_objects.key
      AND j.op = 'upload' AND j.rel_path IS NOT NULL
    ORDER BY j.id DESC LIMIT 1);
UPDATE jobs SET rel_path = (
    SELECT o.rel_path FROM remote_objects o WHERE o.remote_id = jobs.remote_id AND o.key = jobs.key)
    WHERE rel_path IS NULL AND op = 'delete';

CREATE INDEX jobs_by_path ON jobs (collection_id, rel_path);
CREATE INDEX remote_objects_by_path ON remote_objects (collection_id, rel_path);
-- Keyset pages of a collection's ledger for the full reconciliation.
CREATE INDEX remote_objects_by_collection_id ON remote_objects (collection_id, id);

-- Claiming: the next runnable job of one collection is one index probe,
-- however long the queue.
CREATE INDEX jobs_runnable ON jobs (collection_id, next_attempt_at, id) WHERE state = 'queued';
-- Uploads that may need aborting on a server (a few at most).
CREATE INDEX jobs_with_upload_state ON jobs (id) WHERE multipart_state IS NOT NULL;

-- Path groups to plan. Written in the same transaction as the change that
-- makes them stale (by the triggers below), so no change is lost to a crash.
-- `after_job`: the group was looked at while that job ran (planning never
-- touches a running job), so it is planned again when the job leaves
-- `running` (the job's transition clears it).
CREATE TABLE plan_queue (
    collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    rel_path      BLOB    NOT NULL,
    after_job     INTEGER,
    PRIMARY KEY (collection_id, rel_path)
) WITHOUT ROWID;
CREATE INDEX plan_queue_ready ON plan_queue (collection_id) WHERE after_job IS NULL;
CREATE INDEX plan_queue_by_job ON plan_queue (after_job) WHERE after_job IS NOT NULL;

-- Full reconciliations asked for and not finished: one row per collection,
-- with how far it got (`phase` 'members' then 'ledger', `cursor` the last
-- photo or ledger id done). Durable, so one cut off by a crash or shutdown
-- goes on at the next start.
CREATE TABLE reconcile (
    collection_id INTEGER PRIMARY KEY REFERENCES collections (id) ON DELETE CASCADE,
    phase         TEXT    NOT NULL DEFAULT 'members' CHECK (phase IN ('members', 'ledger')),
    cursor        INTEGER NOT NULL DEFAULT 0
);

-- Only collections that sync, or whose copies `sync off` is removing, are
-- planned; changes in the others are not queued.
CREATE TRIGGER plan_member_added AFTER INSERT ON collection_photos
BEGIN
    INSERT OR IGNORE INTO plan_queue (collection_id, rel_path)
    SELECT NEW.collection_id, p.rel_path FROM photos p, collections c
    WHERE p.id = NEW.photo_id AND c.id = NEW.collection_id
      AND (c.sync_enabled = 1 OR c.remove_remote_copies = 1);
END;

CREATE TRIGGER plan_member_removed AFTER DELETE ON collection_photos
BEGIN
    INSERT OR IGNORE INTO plan_queue (collection_id, rel_path)
    SELECT OLD.collection_id, p.rel_path FROM photos p, collections c
    WHERE p.id = OLD.photo_id AND c.id = OLD.collection_id
      AND (c.sync_enabled = 1 OR c.remove_remote_copies = 1);
END;

-- BEFORE: the memberships still exist (they go by cascade afterwards).
CREATE TRIGGER plan_photo_removed BEFORE DELETE ON photos
BEGIN
    INSERT OR IGNORE INTO plan_queue (collection_id, rel_path)
    SELECT cp.collection_id, OLD.rel_path FROM collection_photos cp
    JOIN collections c ON c.id = cp.collection_id
    WHERE cp.photo_id = OLD.id AND (c.sync_enabled = 1 OR c.remove_remote_copies = 1);
END;

CREATE TRIGGER plan_photo_changed AFTER UPDATE OF rel_path, blake3 ON photos
WHEN OLD.rel_path IS NOT NEW.rel_path OR OLD.blake3 IS NOT NEW.blake3
BEGIN
    INSERT OR IGNORE INTO plan_queue (collection_id, rel_path)
    SELECT cp.collection_id, OLD.rel_path FROM collection_photos cp
    JOIN collections c ON c.id = cp.collection_id
    WHERE cp.photo_id = NEW.id AND (c.sync_enabled = 1 OR c.remove_remote_copies = 1);
    INSERT OR IGNORE INTO plan_queue (collection_id, rel_path)
    SELECT cp.collection_id, NEW.rel_path FROM collection_photos cp
    JOIN collections c ON c.id = cp.collection_id
    WHERE cp.photo_id = NEW.id AND (c.sync_enabled = 1 OR c.remove_remote_copies = 1);
END;

-- A root back online: its photos can be uploaded again (they were kept
-- wanted, but not uploaded, while it was missing).
CREATE TRIGGER plan_root_back AFTER UPDATE OF state ON roots
WHEN NEW.state = 'online' AND OLD.state <> 'online'
BEGIN
    INSERT OR IGNORE INTO plan_queue (collection_id, rel_path)
    SELECT cp.collection_id, p.rel_path FROM photos p
    JOIN collection_photos cp ON cp.photo_id = p.id
    JOIN collections c ON c.id = cp.collection_id
    WHERE p.root_id = NEW.id AND (c.sync_enabled = 1 OR c.remove_remote_copies = 1);
END;

-- Sync turned on or off, a new name (keys carry it) or a new remote: every
-- key of the collection may change, so the whole collection is reconciled.
CREATE TRIGGER reconcile_collection_changed
AFTER UPDATE OF name, sync_enabled, remove_remote_copies, remote_id ON collections
BEGIN
    INSERT OR REPLACE INTO reconcile (collection_id, phase, cursor) VALUES (NEW.id, 'members', 0);
END;

-- Whatever the last run planned in full is not known: reconcile every
-- collection once, at the first start with this schema.
INSERT INTO reconcile (collection_id)
    SELECT id FROM collections WHERE sync_enabled = 1 OR remove_remote_copies = 1;

-- Job counts per collection and state, kept by triggers in the transaction
-- of every job change, so `status` reads a few rows instead of counting the
-- whole queue (0 stands for jobs whose collection is gone).
CREATE TABLE job_tallies (
    collection_id INTEGER NOT NULL,
    state         TEXT    NOT NULL,
    jobs          INTEGER NOT NULL DEFAULT 0,
    -- Bytes still to send of queued and running uploads.
    bytes_pending INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (collection_id, state)
) WITHOUT ROWID;

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
