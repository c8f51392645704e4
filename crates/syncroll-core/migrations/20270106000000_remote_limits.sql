-- A remote's own bandwidth limit (`remotes add --limit`), as written by
-- syncroll_core::bandwidth::Limit ("5M", "10M:1M"); NULL: none. It applies
-- on top of the daemon-wide sync.bandwidth.
ALTER TABLE remotes ADD COLUMN bandwidth_limit TEXT;
