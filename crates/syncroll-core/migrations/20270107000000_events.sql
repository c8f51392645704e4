-- The event feed's recent window (`syncroll events`, the WatchEvents RPC).
--
-- Each row is one typed event; `seq` is its sequence number. AUTOINCREMENT,
-- not a plain rowid: trimming the oldest rows must never let a number be
-- handed out again, or a client resuming "after 7" would miss a new 8.
-- Rows are written in the transaction of the change they tell of (a hold,
-- a failed job, a conflict copy), so an event exists exactly when its cause
-- was committed; the store keeps the newest `EVENT_WINDOW` rows.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Unix milliseconds.
    at_ms INTEGER NOT NULL,
    -- The event's kind ("job_failed", "hold_created", ...), also inside
    -- `body`; kept apart so the table can be read by eye.
    kind TEXT NOT NULL,
    -- The event as JSON (`syncroll_core::events::EventKind`).
    body TEXT NOT NULL
);
