//! `syncroll status`.

use std::fmt::Write;
use std::time::Duration;

use syncroll_proto::v1 as pb;

use super::{bytes, count};
use crate::Client;
use crate::output::{Failure, Output, shown};

pub async fn run(mut client: Client, out: Output) -> Result<(), Failure> {
    let status = client
        .daemon
        .get_status(pb::GetStatusRequest {})
        .await?
        .into_inner();
    out.document(&status, || human(&status));
    Ok(())
}

fn human(s: &pb::GetStatusResponse) -> String {
    let mut text = String::new();
    let uptime = indicatif::HumanDuration(Duration::from_secs(s.uptime_seconds));
    let _ = writeln!(text, "syncrolld {}, up {uptime}", s.version);
    let _ = writeln!(text, "data dir   {}", shown(&s.data_dir));
    let _ = writeln!(text, "socket     {}", shown(&s.socket_path));
    let _ = writeln!(
        text,
        "catalog    {} photos in {} roots, {} collections",
        count(s.photo_count),
        s.roots.len(),
        s.collection_count
    );
    if let Some(scan) = &s.scan {
        let _ = writeln!(text, "scan       {}", scan_line(scan));
        if scan.unreadable_entries > 0 {
            let _ = writeln!(
                text,
                "           {} files or folders could not be read (see the daemon log)",
                scan.unreadable_entries
            );
        }
        if scan.settling > 0 {
            let _ = writeln!(
                text,
                "           {} files still being written; each is indexed and sent once it settles",
                count(scan.settling)
            );
        }
    }
    if let Some(watcher) = &s.watcher {
        let _ = write!(text, "watcher    {}", watcher.state);
        // A missing root is not watched; say so rather than claim all are.
        let watched = s.roots.iter().filter(|r| r.watched).count();
        if watcher.state == "watching" && watched < s.roots.len() {
            let _ = write!(text, " {watched} of {} roots", s.roots.len());
        }
        if !watcher.detail.is_empty() {
            let _ = write!(text, ": {}", shown(&watcher.detail));
        }
        if watcher.fallback_rescans > 0 {
            let _ = write!(text, " ({} fallback rescans)", watcher.fallback_rescans);
        }
        text.push('\n');
    }
    if let Some(sync) = &s.sync {
        sync_lines(&mut text, sync, &s.sync_blocked_reason);
    }
    if let Some(versions) = &s.versions {
        let _ = writeln!(
            text,
            "versions   {} kept, {}",
            count(versions.count),
            bytes(versions.bytes)
        );
    }
    let _ = writeln!(text, "roots");
    if s.roots.is_empty() {
        let _ = writeln!(text, "  none yet: add one with `syncroll roots add PATH`");
    }
    for root in &s.roots {
        let _ = writeln!(text, "  {}", super::roots::root_line(root));
    }
    // Added after the lines scripts already read, never between them.
    connection_lines(&mut text, s);
    text.trim_end().to_owned()
}

fn connection_lines(text: &mut String, s: &pb::GetStatusResponse) {
    if s.connections.is_empty() && s.open_conflicts == 0 {
        return;
    }
    let _ = writeln!(text, "connections");
    for k in &s.connections {
        let _ = writeln!(
            text,
            "  {} <-> {}: {}; last poll {}",
            shown(&k.collection),
            shown(&k.remote),
            super::connections::summary(k),
            super::connections::last_poll(k)
        );
    }
    let _ = writeln!(
        text,
        "conflicts  {} open{}",
        count(s.open_conflicts),
        if s.open_conflicts > 0 {
            " (see `syncroll conflicts`)"
        } else {
            ""
        }
    );
}

fn scan_line(scan: &pb::ScanProgress) -> String {
    if scan.scanning {
        return format!(
            "scanning {} ({}): {} files seen, {} hashed ({})",
            shown(&scan.current_root),
            scan.reason,
            count(scan.files_seen),
            count(scan.files_hashed),
            bytes(scan.bytes_hashed)
        );
    }
    if scan.last_finished_at == 0 {
        return "not yet run".to_owned();
    }
    format!(
        "idle; last scan ({}) took {}",
        scan.reason,
        indicatif::HumanDuration(Duration::from_millis(scan.last_duration_ms))
    )
}

fn sync_lines(text: &mut String, sync: &pb::SyncStatus, blocked_reason: &str) {
    let _ = writeln!(text, "sync       {}", super::sync::summary(sync));
    if let Some(b) = &sync.bandwidth {
        let _ = writeln!(text, "bandwidth  {}", super::sync::limit_text(b));
    }
    if sync.paused {
        let until = if sync.paused_until > 0 {
            format!(
                "for another {}",
                indicatif::HumanDuration(Duration::from_secs(
                    (sync.paused_until - now_secs()).max(0) as u64
                ))
            )
        } else {
            "until `syncroll resume`".to_owned()
        };
        let _ = writeln!(text, "           paused {until}");
    }
    // The summary line says what sync waits for; this, what comes next.
    if !blocked_reason.is_empty() {
        let _ = writeln!(
            text,
            "           sync resumes by itself once the data dir can be written"
        );
    }
    for c in &sync.collections {
        let jobs = c.jobs.unwrap_or_default();
        let state = match (c.sync_enabled, c.paused) {
            (false, _) => "off",
            (true, true) => "paused",
            (true, false) => "on",
        };
        let _ = writeln!(
            text,
            "  {} -> {} ({state}): {}/{} photos, {}/{} synced; {} queued, {} running, {} failed{}",
            shown(&c.name),
            shown(&c.remote),
            count(c.synced_count),
            count(c.photo_count),
            bytes(c.synced_bytes),
            bytes(c.total_bytes),
            jobs.queued,
            jobs.running,
            jobs.failed,
            super::sync::unsent(&c.direction, c.photo_count, c.synced_count, &jobs)
        );
    }
    if !sync.last_errors.is_empty() {
        let _ = writeln!(text, "last errors");
        for e in &sync.last_errors {
            let _ = writeln!(
                text,
                "  job {} ({}, {}) {}: {}",
                e.job_id,
                e.state,
                shown(&e.collection),
                shown(&e.key),
                shown(&e.error)
            );
        }
    }
    if !sync.holds.is_empty() {
        let _ = writeln!(
            text,
            "held       deletions wait for your decision (`syncroll holds show ID`, then \
             `holds approve ID` or `holds reject ID`)"
        );
        for h in &sync.holds {
            let _ = writeln!(text, "  hold {}: {}", h.id, shown(&h.reason));
        }
    }
    if sync.skipped > 0 {
        let _ = writeln!(
            text,
            "skipped    {} photos (see `syncroll jobs --state skipped`)",
            count(sync.skipped)
        );
        for p in &sync.skipped_photos {
            let _ = writeln!(
                text,
                "  {} {}: {}",
                shown(&p.collection),
                shown(&p.key),
                shown(&p.reason)
            );
        }
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
