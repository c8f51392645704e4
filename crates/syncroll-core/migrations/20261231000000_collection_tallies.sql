-- Per collection: its photos and bytes, and how many of them are synced
-- (a copy with the photo's bytes is in the ledger for the collection on its
-- remote), kept by triggers in the transaction of every change, so that
-- `status`, `watch` and `collections list` read one row per collection
-- instead of walking every member (seconds at 1,000,000 photos).

-- Members with given bytes, for a ledger change: one probe, not a walk.
CREATE INDEX photos_by_hash ON photos (blake3);

CREATE TABLE collection_tallies (
    collection_id INTEGER PRIMARY KEY REFERENCES collections (id) ON DELETE CASCADE,
    members       INTEGER NOT NULL DEFAULT 0,
    member_bytes  INTEGER NOT NULL DEFAULT 0,
    synced        INTEGER NOT NULL DEFAULT 0,
    synced_bytes  INTEGER NOT NULL DEFAULT 0
);

-- Whether collection C has a copy of bytes H on its remote is
--   EXISTS (SELECT 1 FROM collections c JOIN remote_objects o
--           ON o.collection_id = c.id AND o.remote_id = c.remote_id
--           AND o.blake3 = H WHERE c.id = C)
-- written out below where it is needed (SQLite has no functions in SQL).

INSERT INTO collection_tallies (collection_id, members, member_bytes, synced, synced_bytes)
SELECT c.id, COUNT(p.id), COALESCE(SUM(p.size), 0),
       COALESCE(SUM(EXISTS (SELECT 1 FROM remote_objects o WHERE o.remote_id = c.remote_id
                            AND o.collection_id = c.id AND o.blake3 = p.blake3)), 0),
       COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM remote_objects o WHERE o.remote_id = c.remote_id
                            AND o.collection_id = c.id AND o.blake3 = p.blake3) THEN p.size END), 0)
FROM collections c
LEFT JOIN collection_photos cp ON cp.collection_id = c.id
LEFT JOIN photos p ON p.id = cp.photo_id
GROUP BY c.id;

CREATE TRIGGER tally_collection_created AFTER INSERT ON collections
BEGIN
    INSERT INTO collection_tallies (collection_id) VALUES (NEW.id);
END;

-- A new remote: which members are synced is another question.
CREATE TRIGGER tally_collection_moved AFTER UPDATE OF remote_id ON collections
WHEN OLD.remote_id IS NOT NEW.remote_id
BEGIN
    UPDATE collection_tallies SET
        synced = (SELECT COUNT(*) FROM collection_photos cp JOIN photos p ON p.id = cp.photo_id
                  WHERE cp.collection_id = NEW.id
                    AND EXISTS (SELECT 1 FROM remote_objects o WHERE o.remote_id = NEW.remote_id
                                AND o.collection_id = NEW.id AND o.blake3 = p.blake3)),
        synced_bytes = (SELECT COALESCE(SUM(p.size), 0) FROM collection_photos cp
                        JOIN photos p ON p.id = cp.photo_id
                        WHERE cp.collection_id = NEW.id
                          AND EXISTS (SELECT 1 FROM remote_objects o WHERE o.remote_id = NEW.remote_id
                                      AND o.collection_id = NEW.id AND o.blake3 = p.blake3))
    WHERE collection_id = NEW.id;
END;

CREATE TRIGGER tally_member_added AFTER INSERT ON collection_photos
BEGIN
    UPDATE collection_tallies SET
        members = members + 1,
        member_bytes = member_bytes + p.size,
        synced = synced + p.ok,
        synced_bytes = synced_bytes + p.ok * p.size
    FROM (SELECT size, EXISTS (SELECT 1 FROM collections c JOIN remote_objects o
                               ON o.collection_id = c.id AND o.remote_id = c.remote_id
                               AND o.blake3 = photos.blake3
                               WHERE c.id = NEW.collection_id) AS ok
          FROM photos WHERE id = NEW.photo_id) AS p
    WHERE collection_id = NEW.collection_id;
END;

-- A membership removed on its own; when the photo itself goes, the
-- memberships go by cascade after it, and `tally_photo_removed` counted
-- them while the photo was still there.
CREATE TRIGGER tally_member_removed AFTER DELETE ON collection_photos
WHEN EXISTS (SELECT 1 FROM photos WHERE id = OLD.photo_id)
BEGIN
    UPDATE collection_tallies SET
        members = members - 1,
        member_bytes = member_bytes - p.size,
        synced = synced - p.ok,
        synced_bytes = synced_bytes - p.ok * p.size
    FROM (SELECT size, EXISTS (SELECT 1 FROM collections c JOIN remote_objects o
                               ON o.collection_id = c.id AND o.remote_id = c.remote_id
                               AND o.blake3 = photos.blake3
                               WHERE c.id = OLD.collection_id) AS ok
          FROM photos WHERE id = OLD.photo_id) AS p
    WHERE collection_id = OLD.collection_id;
END;

CREATE TRIGGER tally_photo_removed BEFORE DELETE ON photos
BEGIN
    UPDATE collection_tallies SET
        members = members - 1,
        member_bytes = member_bytes - OLD.size,
        synced = synced - m.ok,
        synced_bytes = synced_bytes - m.ok * OLD.size
    FROM (SELECT cp.collection_id,
                 EXISTS (SELECT 1 FROM collections c JOIN remote_objects o
                         ON o.collection_id = c.id AND o.remote_id = c.remote_id
                         AND o.blake3 = OLD.blake3
                         WHERE c.id = cp.collection_id) AS ok
          FROM collection_photos cp WHERE cp.photo_id = OLD.id) AS m
    WHERE collection_tallies.collection_id = m.collection_id;
END;

CREATE TRIGGER tally_photo_changed AFTER UPDATE OF size, blake3 ON photos
WHEN OLD.size IS NOT NEW.size OR OLD.blake3 IS NOT NEW.blake3
BEGIN
    UPDATE collection_tallies SET
        member_bytes = member_bytes - OLD.size + NEW.size,
        synced = synced - m.was + m.now,
        synced_bytes = synced_bytes - m.was * OLD.size + m.now * NEW.size
    FROM (SELECT cp.collection_id,
                 EXISTS (SELECT 1 FROM collections c JOIN remote_objects o
                         ON o.collection_id = c.id AND o.remote_id = c.remote_id
                         AND o.blake3 = OLD.blake3
                         WHERE c.id = cp.collection_id) AS was,
                 EXISTS (SELECT 1 FROM collections c JOIN remote_objects o
                         ON o.collection_id = c.id AND o.remote_id = c.remote_id
                         AND o.blake3 = NEW.blake3
                         WHERE c.id = cp.collection_id) AS now
          FROM collection_photos cp WHERE cp.photo_id = NEW.id) AS m
    WHERE collection_tallies.collection_id = m.collection_id;
END;

-- The ledger: members with bytes H become synced when the first copy of H
-- for their collection (on its remote) lands, and stop being synced when
-- the last one goes. The members with bytes H are found from the photos
-- with them (`photos_by_hash`): CROSS JOIN keeps SQLite from walking the
-- collection's every membership instead, which made each upload cost
-- milliseconds in a collection of 100,000.
CREATE TRIGGER tally_copy_added AFTER INSERT ON remote_objects
WHEN NEW.collection_id IS NOT NULL
 AND NEW.remote_id = (SELECT remote_id FROM collections WHERE id = NEW.collection_id)
 AND NOT EXISTS (SELECT 1 FROM remote_objects o WHERE o.collection_id = NEW.collection_id
                 AND o.remote_id = NEW.remote_id AND o.blake3 = NEW.blake3 AND o.id != NEW.id)
BEGIN
    UPDATE collection_tallies SET
        synced = synced + w.n,
        synced_bytes = synced_bytes + w.bytes
    FROM (SELECT COUNT(*) AS n, COALESCE(SUM(p.size), 0) AS bytes
          FROM photos p CROSS JOIN collection_photos cp
               ON cp.photo_id = p.id AND cp.collection_id = NEW.collection_id
          WHERE p.blake3 = NEW.blake3) AS w
    WHERE collection_id = NEW.collection_id;
END;

CREATE TRIGGER tally_copy_removed AFTER DELETE ON remote_objects
WHEN OLD.collection_id IS NOT NULL
 AND OLD.remote_id = (SELECT remote_id FROM collections WHERE id = OLD.collection_id)
 AND NOT EXISTS (SELECT 1 FROM remote_objects o WHERE o.collection_id = OLD.collection_id
                 AND o.remote_id = OLD.remote_id AND o.blake3 = OLD.blake3)
BEGIN
    UPDATE collection_tallies SET
        synced = synced - w.n,
        synced_bytes = synced_bytes - w.bytes
    FROM (SELECT COUNT(*) AS n, COALESCE(SUM(p.size), 0) AS bytes
          FROM photos p CROSS JOIN collection_photos cp
               ON cp.photo_id = p.id AND cp.collection_id = OLD.collection_id
          WHERE p.blake3 = OLD.blake3) AS w
    WHERE collection_id = OLD.collection_id;
END;

-- A copy replaced in place (an upsert) or handed to no collection: the old
-- values leave as by a delete, the new arrive as by an insert.
CREATE TRIGGER tally_copy_changed AFTER UPDATE OF blake3, collection_id, remote_id ON remote_objects
WHEN OLD.blake3 IS NOT NEW.blake3 OR OLD.collection_id IS NOT NEW.collection_id
  OR OLD.remote_id IS NOT NEW.remote_id
BEGIN
    UPDATE collection_tallies SET
        synced = synced - w.n,
        synced_bytes = synced_bytes - w.bytes
    FROM (SELECT COUNT(*) AS n, COALESCE(SUM(p.size), 0) AS bytes
          FROM photos p CROSS JOIN collection_photos cp
               ON cp.photo_id = p.id AND cp.collection_id = OLD.collection_id
          WHERE p.blake3 = OLD.blake3) AS w
    WHERE collection_id = OLD.collection_id
      AND OLD.remote_id = (SELECT remote_id FROM collections WHERE id = OLD.collection_id)
      AND NOT EXISTS (SELECT 1 FROM remote_objects o WHERE o.collection_id = OLD.collection_id
                      AND o.remote_id = OLD.remote_id AND o.blake3 = OLD.blake3);
    UPDATE collection_tallies SET
        synced = synced + w.n,
        synced_bytes = synced_bytes + w.bytes
    FROM (SELECT COUNT(*) AS n, COALESCE(SUM(p.size), 0) AS bytes
          FROM photos p CROSS JOIN collection_photos cp
               ON cp.photo_id = p.id AND cp.collection_id = NEW.collection_id
          WHERE p.blake3 = NEW.blake3) AS w
    WHERE collection_id = NEW.collection_id
      AND NEW.remote_id = (SELECT remote_id FROM collections WHERE id = NEW.collection_id)
      AND NOT EXISTS (SELECT 1 FROM remote_objects o WHERE o.collection_id = NEW.collection_id
                      AND o.remote_id = NEW.remote_id AND o.blake3 = NEW.blake3
                      AND o.id != NEW.id);
END;

-- Per root: its photos and bytes, for `status` and `roots list` (and the
-- catalog's photo count, their sum).
CREATE TABLE root_tallies (
    root_id INTEGER PRIMARY KEY REFERENCES roots (id) ON DELETE CASCADE,
    photos  INTEGER NOT NULL DEFAULT 0,
    bytes   INTEGER NOT NULL DEFAULT 0
);

INSERT INTO root_tallies (root_id, photos, bytes)
SELECT r.id, COUNT(p.id), COALESCE(SUM(p.size), 0)
FROM roots r LEFT JOIN photos p ON p.root_id = r.id GROUP BY r.id;

CREATE TRIGGER tally_root_added AFTER INSERT ON roots
BEGIN
    INSERT INTO root_tallies (root_id) VALUES (NEW.id);
END;

CREATE TRIGGER tally_root_photo_added AFTER INSERT ON photos
BEGIN
    UPDATE root_tallies SET photos = photos + 1, bytes = bytes + NEW.size
    WHERE root_id = NEW.root_id;
END;

CREATE TRIGGER tally_root_photo_removed AFTER DELETE ON photos
BEGIN
    UPDATE root_tallies SET photos = photos - 1, bytes = bytes - OLD.size
    WHERE root_id = OLD.root_id;
END;

CREATE TRIGGER tally_root_photo_changed AFTER UPDATE OF size, root_id ON photos
WHEN OLD.size IS NOT NEW.size OR OLD.root_id IS NOT NEW.root_id
BEGIN
    UPDATE root_tallies SET photos = photos - 1, bytes = bytes - OLD.size
    WHERE root_id = OLD.root_id;
    UPDATE root_tallies SET photos = photos + 1, bytes = bytes + NEW.size
    WHERE root_id = NEW.root_id;
END;
