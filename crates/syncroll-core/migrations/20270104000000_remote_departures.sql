-- Remote departures: a photo of a pulling connection whose copy was
-- deleted on the remote album, unchanged locally, leaves the collection
-- and stays on disk (docs/connections.md, "Remote deletions").

-- A folder collection's members follow its folder, so a departed photo
-- would join again the next time the scanner touches it; this keeps it
-- out while it holds the bytes it had when it left. New bytes (a local
-- edit) bring it back: modify beats delete. A manual collection's
-- membership is explicit and needs no row here.
CREATE TABLE collection_departures (
    collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    photo_id      INTEGER NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
    blake3        BLOB    NOT NULL,
    -- Unix ms.
    departed_at   INTEGER NOT NULL,
    PRIMARY KEY (collection_id, photo_id)
) WITHOUT ROWID;
CREATE INDEX collection_departures_by_photo ON collection_departures (photo_id);

-- Departures the deletion brake held (an album emptied by mistake, a NAS
-- share unmounted under an `fs` remote): the keys whose copies vanished,
-- waiting with the hold for `holds approve` or `holds reject`. Each poll
-- recomputes them, so a hold whose album came back empties and is
-- withdrawn.
CREATE TABLE held_departures (
    id        INTEGER PRIMARY KEY,
    hold_id   INTEGER NOT NULL REFERENCES holds (id) ON DELETE CASCADE,
    remote_id INTEGER NOT NULL REFERENCES remotes (id) ON DELETE CASCADE,
    key       TEXT    NOT NULL,
    -- Bytes of the copy as the ledger recorded it.
    bytes     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (hold_id, key)
);

-- How many departures a hold holds, and their copies' bytes (kept by the
-- store as it writes held_departures, frozen once the hold is decided).
ALTER TABLE holds ADD COLUMN remote_deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE holds ADD COLUMN remote_deleted_bytes INTEGER NOT NULL DEFAULT 0;
