-- A job cancelled by the user (`syncroll cancel`) is held: the planner does
-- not plan the same work again (same key, operation and bytes) until the
-- user asks for it with `retry`, or turns the collection's sync off or on.
-- Without this a cancel lasted only until the next planning pass.
ALTER TABLE jobs ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
