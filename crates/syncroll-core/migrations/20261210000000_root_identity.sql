-- Root identity: the device id (st_dev) and inode (st_ino) of a root's
-- folder, recorded when it is added. A folder at the root's path with
-- another identity (the bare mount point of an unmounted disk, a folder
-- moved away and replaced) is not read as the root: the root is missing.
-- NULL for roots added before this migration; the daemon fills them in at
-- the first whole scan that finds the folder present, not empty and
-- holding at least one of the root's cataloged photos (an empty folder, or
-- one of strangers, may be a bare mount point). Stored as the bits of the
-- unsigned values in SQLite's signed 64-bit integers.
ALTER TABLE roots ADD COLUMN device INTEGER;
ALTER TABLE roots ADD COLUMN inode INTEGER;
