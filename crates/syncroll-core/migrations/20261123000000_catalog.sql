-- The catalog: roots, the photos found in them, remotes and collections.
-- Paths relative to a root are BLOBs holding the raw file-name bytes, so a
-- name that is not UTF-8 is stored exactly and BLOB range scans give cheap
-- "everything under this folder" queries.

CREATE TABLE roots (
    id             INTEGER PRIMARY KEY,
    path           TEXT    NOT NULL UNIQUE,
    -- 'missing' means unmounted or unreadable: its photos are kept, never
    -- read as deleted.
    state          TEXT    NOT NULL DEFAULT 'online' CHECK (state IN ('online', 'missing')),
    missing_reason TEXT    NOT NULL DEFAULT '',
    added_at       INTEGER NOT NULL,
    last_scan_at   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE photos (
    id         INTEGER PRIMARY KEY,
    root_id    INTEGER NOT NULL REFERENCES roots (id) ON DELETE CASCADE,
    rel_path   BLOB    NOT NULL,
    size       INTEGER NOT NULL,
    mtime_ns   INTEGER NOT NULL,
    inode      INTEGER NOT NULL,
    -- 32 raw bytes; reused while (size, mtime_ns, inode) stay the same.
    blake3     BLOB    NOT NULL,
    indexed_at INTEGER NOT NULL,
    UNIQUE (root_id, rel_path)
);

CREATE TABLE remotes (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    kind          TEXT    NOT NULL,
    -- Non-secret settings only; credentials live in a 0600 file.
    settings_json TEXT    NOT NULL DEFAULT '{}',
    created_at    INTEGER NOT NULL
);

CREATE TABLE collections (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL CHECK (kind IN ('manual', 'folder')),
    -- For kind 'folder': the followed folder, as a root and a path under it
    -- (empty for the whole root).
    folder_root_id  INTEGER REFERENCES roots (id) ON DELETE RESTRICT,
    folder_rel_path BLOB,
    remote_id       INTEGER NOT NULL REFERENCES remotes (id) ON DELETE RESTRICT,
    sync_enabled    INTEGER NOT NULL DEFAULT 0,
    paused          INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    CHECK ((kind = 'folder') = (folder_root_id IS NOT NULL))
);

-- Materialised membership, for every kind of collection.
CREATE TABLE collection_photos (
    collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    photo_id      INTEGER NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
    added_at      INTEGER NOT NULL,
    PRIMARY KEY (collection_id, photo_id)
) WITHOUT ROWID;

CREATE INDEX collection_photos_by_photo ON collection_photos (photo_id);
CREATE INDEX photos_by_inode ON photos (root_id, inode);
