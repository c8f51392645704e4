-- `GetStatus` (every `syncroll status`, and the tray every two seconds)
-- shows the five newest failure reasons. Found through `jobs_by_state`,
-- that read every queued job and sorted them: with 100,000 photos queued,
-- each status read paid for the whole queue. This index holds only jobs
-- with an error, newest last, so the read stops after five.
CREATE INDEX jobs_recent_failures ON jobs (updated_at)
    WHERE last_error != '' AND state IN ('failed', 'queued');
