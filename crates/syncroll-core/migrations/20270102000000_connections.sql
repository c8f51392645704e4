-- Connections (`syncroll connect`): a collection tied to its remote album
-- in one or both directions; the base the three-way diff of a connection
-- decides from; and the conflicts it found. See docs/connections.md.

-- One per collection; the collection's remote is the album. Deleting the
-- row (`disconnect`) leaves push-only sync, and deletes nothing else.
CREATE TABLE connections (
    collection_id     INTEGER PRIMARY KEY REFERENCES collections (id) ON DELETE CASCADE,
    direction         TEXT    NOT NULL CHECK (direction IN ('push', 'pull', 'both')),
    -- Fixed once the connection exists (the store refuses a change).
    returns           TEXT    NOT NULL CHECK (returns IN ('version', 'copy')),
    -- Where a manual collection's new remote files land; a folder
    -- collection's own folder. Absolute, under a root (checked on connect).
    inbox             TEXT    NOT NULL CHECK (substr(inbox, 1, 1) = '/'),
    -- Seconds between polls of the remote folder (connection::MIN_POLL to
    -- connection::MAX_POLL).
    poll_secs         INTEGER NOT NULL DEFAULT 60 CHECK (poll_secs BETWEEN 10 AND 86400),
    -- Unix ms.
    created_at        INTEGER NOT NULL,
    -- Unix ms of the last finished poll; NULL before the first.
    last_polled_at    INTEGER,
    -- What the last poll did or why it failed, in words.
    last_poll_outcome TEXT    NOT NULL DEFAULT ''
);

-- The base: the last state both sides of a key agreed on, kept on its
-- ledger row rather than in a parallel table, since the ledger already
-- holds the local side of it. The base is
--   local:  blake3, size, local_mtime_ns
--   remote: remote_size, remote_etag, remote_modified_ms
-- `etag` stays what syncroll's own put returned (the ledger's proof that
-- an object is syncroll's); `remote_etag` is what the remote showed when
-- the sides last agreed (after a download, the downloaded object's). The
-- new columns are NULL on rows written before connections existed: the
-- base's remote side is then unknown (connection::Base::remote is None)
-- until the next agreement fills it in.
ALTER TABLE remote_objects ADD COLUMN local_mtime_ns INTEGER;
ALTER TABLE remote_objects ADD COLUMN remote_size INTEGER CHECK (remote_size >= 0);
ALTER TABLE remote_objects ADD COLUMN remote_etag TEXT;
-- Unix ms.
ALTER TABLE remote_objects ADD COLUMN remote_modified_ms INTEGER;

-- Conflicts a connection found: both sides changed and differ. The local
-- file stayed; the remote's bytes were saved beside it as `copy_path`.
CREATE TABLE conflicts (
    id            INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    remote_id     INTEGER NOT NULL REFERENCES remotes (id) ON DELETE CASCADE,
    key           TEXT    NOT NULL,
    -- Absolute paths, as raw bytes (names need not be UTF-8).
    local_path    BLOB    NOT NULL,
    copy_path     BLOB    NOT NULL,
    -- Unix ms.
    detected_at   INTEGER NOT NULL,
    state         TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
    resolved_at   INTEGER,
    CHECK ((state = 'open') = (resolved_at IS NULL))
);
CREATE INDEX conflicts_open ON conflicts (collection_id) WHERE state = 'open';

-- A put (the upload paths' upserts, which know nothing of bases) replaces
-- the object: the base the row had no longer describes it, so its remote
-- side and local mtime are cleared, and the next decision trusts only the
-- ledger's own `etag` (connection::KeyState::remote_is_ours) until the
-- sides agree again. An update that sets the base itself
-- (Store::record_base) changes these columns and is left alone; one that
-- rewrote the same base over new bytes would clear it, which costs a
-- fresh agreement, never a wrong one.
CREATE TRIGGER base_cleared_by_put AFTER UPDATE OF blake3, etag, uploaded_at ON remote_objects
WHEN (NEW.blake3 IS NOT OLD.blake3 OR NEW.etag IS NOT OLD.etag
      OR NEW.uploaded_at IS NOT OLD.uploaded_at)
 AND NEW.local_mtime_ns IS OLD.local_mtime_ns AND NEW.remote_size IS OLD.remote_size
 AND NEW.remote_etag IS OLD.remote_etag AND NEW.remote_modified_ms IS OLD.remote_modified_ms
 AND (OLD.local_mtime_ns IS NOT NULL OR OLD.remote_size IS NOT NULL
      OR OLD.remote_etag IS NOT NULL OR OLD.remote_modified_ms IS NOT NULL)
BEGIN
    UPDATE remote_objects
    SET local_mtime_ns = NULL, remote_size = NULL, remote_etag = NULL, remote_modified_ms = NULL
    WHERE id = NEW.id;
END;
