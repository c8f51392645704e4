-- Photos of a synced collection that no remote can hold under their key (a
-- control character in the name, a folder named like syncroll's
-- temporaries). The planner rewrites a path group's rows in the same
-- transaction as it plans the group, instead of queueing an upload that can
-- only fail; `status` and `jobs` show them with the reason. A rename or
-- removal replans the group, which drops the row.
CREATE TABLE skipped_photos (
    collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    rel_path      BLOB    NOT NULL,
    photo_id      INTEGER NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
    key           TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    -- Milliseconds since the epoch when the photo was first skipped.
    since         INTEGER NOT NULL,
    PRIMARY KEY (collection_id, rel_path, photo_id)
);
