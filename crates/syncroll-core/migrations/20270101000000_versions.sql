-- The version store's metadata (safety rule 1: before new bytes replace a
-- local file, its previous bytes are kept). The bytes themselves live in
-- the daemon's content-addressed store under `<data dir>/versions`, one
-- file per distinct BLAKE3; a row is written only once its bytes are
-- durable there, and a blob is deleted only when no row references it.

-- One row per file that ever had a version, by its absolute path (as raw
-- bytes, like `photos.rel_path`). Versions follow the path, not a photo
-- row: they outlive `roots remove` and a photo leaving the catalog.
-- `last_number` keeps version numbers from being reused once retention
-- dropped the newest ones, so "version 3" always means the same bytes.
CREATE TABLE version_files (
    id          INTEGER PRIMARY KEY,
    path        BLOB    NOT NULL UNIQUE,
    last_number INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE versions (
    id         INTEGER PRIMARY KEY,
    file_id    INTEGER NOT NULL REFERENCES version_files (id) ON DELETE CASCADE,
    -- 1, 2, ... per file, in the order they were kept; never reused.
    number     INTEGER NOT NULL,
    blake3     BLOB    NOT NULL,
    size       INTEGER NOT NULL,
    -- The replaced file's modification time, in ns since the epoch.
    mtime_ns   INTEGER NOT NULL,
    -- When the bytes were kept, in ms since the epoch.
    created_at INTEGER NOT NULL,
    -- Why, in words: "replaced by remote edit from nas",
    -- "replaced by restore of version 2".
    origin     TEXT    NOT NULL,
    UNIQUE (file_id, number)
);
-- Retention drops oldest first, by age and by bytes.
CREATE INDEX versions_by_age ON versions (created_at, id);
-- Whether a blob is still referenced once a version is dropped.
CREATE INDEX versions_by_blob ON versions (blake3);
