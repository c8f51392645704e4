-- Sidecars (`.xmp`, `.aae`, `.pp3`, ...) and Live Photo motion files travel
-- with their photo (see docs/architecture.md, "Sidecars"). They are rows of
-- `photos`, so the scanner indexes, hashes and renames them like any file,
-- but flagged: a sidecar row is never a member of a collection, never
-- counted as a photo, and is uploaded, re-uploaded and deleted as part of
-- its owner's path group.

-- 1: a sidecar (or a Live Photo's motion file with its still beside it).
ALTER TABLE photos ADD COLUMN sidecar INTEGER NOT NULL DEFAULT 0 CHECK (sidecar IN (0, 1));
-- The photo a sidecar belongs to; NULL for photos and for a sidecar with
-- no photo beside it (which is not synced). Kept by the scanner
-- (`store::photos::resolve_sidecars`) in the transaction of each change.
ALTER TABLE photos ADD COLUMN owner_id INTEGER REFERENCES photos (id) ON DELETE SET NULL;

-- A photo's sidecars, for planning its group: one probe per photo.
CREATE INDEX photos_by_owner ON photos (owner_id) WHERE owner_id IS NOT NULL;

-- A sidecar that changed (bytes, name) or moved to another owner replans
-- the groups of its old and its new owner; its own row has no membership,
-- so `plan_photo_changed` queues nothing for it.
CREATE TRIGGER plan_sidecar_changed AFTER UPDATE OF owner_id, blake3, rel_path ON photos
WHEN (OLD.sidecar = 1 OR NEW.sidecar = 1)
 AND (OLD.owner_id IS NOT NEW.owner_id OR OLD.blake3 IS NOT NEW.blake3
      OR OLD.rel_path IS NOT NEW.rel_path)
BEGIN
    INSERT OR IGNORE INTO plan_queue (collection_id, rel_path)
    SELECT cp.collection_id, o.rel_path FROM photos o
    JOIN collection_photos cp ON cp.photo_id = o.id
    JOIN collections c ON c.id = cp.collection_id
    WHERE o.id IN (OLD.owner_id, NEW.owner_id)
      AND (c.sync_enabled = 1 OR c.remove_remote_copies = 1);
END;

-- A sidecar removed (its file is gone): its owner's groups drop its key.
CREATE TRIGGER plan_sidecar_removed BEFORE DELETE ON photos
WHEN OLD.owner_id IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO plan_queue (collection_id, rel_path)
    SELECT cp.collection_id, o.rel_path FROM photos o
    JOIN collection_photos cp ON cp.photo_id = o.id
    JOIN collections c ON c.id = cp.collection_id
    WHERE o.id = OLD.owner_id AND (c.sync_enabled = 1 OR c.remove_remote_copies = 1);
END;

-- Roots count photos, not sidecars; their bytes include the sidecars' (a
-- photo's bytes are its own and its sidecars').
DROP TRIGGER tally_root_photo_added;
DROP TRIGGER tally_root_photo_removed;
DROP TRIGGER tally_root_photo_changed;

CREATE TRIGGER tally_root_photo_added AFTER INSERT ON photos
BEGIN
    UPDATE root_tallies SET photos = photos + 1 - NEW.sidecar, bytes = bytes + NEW.size
    WHERE root_id = NEW.root_id;
END;

CREATE TRIGGER tally_root_photo_removed AFTER DELETE ON photos
BEGIN
    UPDATE root_tallies SET photos = photos - 1 + OLD.sidecar, bytes = bytes - OLD.size
    WHERE root_id = OLD.root_id;
END;

CREATE TRIGGER tally_root_photo_changed AFTER UPDATE OF size, root_id, sidecar ON photos
WHEN OLD.size IS NOT NEW.size OR OLD.root_id IS NOT NEW.root_id OR OLD.sidecar IS NOT NEW.sidecar
BEGIN
    UPDATE root_tallies SET photos = photos - 1 + OLD.sidecar, bytes = bytes - OLD.size
    WHERE root_id = OLD.root_id;
    UPDATE root_tallies SET photos = photos + 1 - NEW.sidecar, bytes = bytes + NEW.size
    WHERE root_id = NEW.root_id;
END;

-- A collection's bytes include its members' sidecars. A sidecar's bytes
-- follow its owner: they arrive and leave with the owner's memberships
-- (below) and with the sidecar's own owner and size.
CREATE TRIGGER tally_sidecar_changed AFTER UPDATE OF owner_id, size ON photos
WHEN OLD.owner_id IS NOT NEW.owner_id OR OLD.size IS NOT NEW.size
BEGIN
    UPDATE collection_tallies SET member_bytes = member_bytes - OLD.size
    WHERE collection_id IN (SELECT collection_id FROM collection_photos WHERE photo_id = OLD.owner_id);
    UPDATE collection_tallies SET member_bytes = member_bytes + NEW.size
    WHERE collection_id IN (SELECT collection_id FROM collection_photos WHERE photo_id = NEW.owner_id);
END;

-- BEFORE: the owner is still there to find its memberships. Before an
-- owner's row is deleted the scanner sets its sidecars' owner to NULL
-- itself (`tally_sidecar_changed` takes their bytes out then), rather than
-- leave it to the foreign key, whose update comes after the cascade.
CREATE TRIGGER tally_sidecar_removed BEFORE DELETE ON photos
WHEN OLD.owner_id IS NOT NULL
BEGIN
    UPDATE collection_tallies SET member_bytes = member_bytes - OLD.size
    WHERE collection_id IN (SELECT collection_id FROM collection_photos WHERE photo_id = OLD.owner_id);
END;

CREATE TRIGGER tally_owner_joined AFTER INSERT ON collection_photos
BEGIN
    UPDATE collection_tallies SET member_bytes = member_bytes
        + (SELECT COALESCE(SUM(size), 0) FROM photos WHERE owner_id = NEW.photo_id)
    WHERE collection_id = NEW.collection_id;
END;

-- A membership removed on its own (not by the owner's cascade, which
-- `tally_owner_removed` counted).
CREATE TRIGGER tally_owner_left AFTER DELETE ON collection_photos
WHEN EXISTS (SELECT 1 FROM photos WHERE id = OLD.photo_id)
BEGIN
    UPDATE collection_tallies SET member_bytes = member_bytes
        - (SELECT COALESCE(SUM(size), 0) FROM photos WHERE owner_id = OLD.photo_id)
    WHERE collection_id = OLD.collection_id;
END;
