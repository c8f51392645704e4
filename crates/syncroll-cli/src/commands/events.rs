//! `events`: follows the daemon's event feed, one line per event, until
//! interrupted (or the daemon stops).

use std::time::{Duration, UNIX_EPOCH};

use syncroll_client::{Event, EventKind, FeedItem, PauseChange};

use crate::Client;
use crate::output::{Failure, Output};

pub async fn run(client: Client, after: Option<u64>, out: Output) -> Result<(), Failure> {
    let mut feed = client.watch_events(after).await.map_err(failure)?;
    while let Some(item) = feed.next().await.map_err(failure)? {
        match &item {
            FeedItem::Event(event) => out.line(event, || line(&item)),
            // Every line carries a "kind", so a script reads one shape.
            FeedItem::Gap { first, last } => {
                let gap = serde_json::json!({
                    "kind": "gap",
                    "first_missed_seq": first,
                    "last_missed_seq": last,
                });
                out.line(&gap, || line(&item));
            }
        }
    }
    Ok(())
}

fn failure(error: syncroll_client::ClientError) -> Failure {
    match error {
        syncroll_client::ClientError::Rpc(status) => Failure::Rpc(status),
        other => Failure::Input(other.to_string()),
    }
}

/// `#12 2027-01-07T10:00:00Z job_failed Trip/a.jpg (Trip): ...`
fn line(item: &FeedItem) -> String {
    match item {
        FeedItem::Gap { first, last } => format!(
            "(events #{first} to #{last} are no longer kept by the daemon: some were missed)"
        ),
        FeedItem::Event(event) => format!(
            "#{} {} {} {}",
            event.seq,
            when(event),
            event.kind.name(),
            what(&event.kind)
        ),
    }
}

fn when(event: &Event) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(event.at_ms.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

fn what(kind: &EventKind) -> String {
    let everywhere = |c: &Option<String>| c.clone().unwrap_or_else(|| "every collection".into());
    match kind {
        EventKind::JobFailed {
            job_id,
            collection,
            op,
            key,
            error,
            attempts,
        } => format!(
            "job {job_id} ({op} {key} of {}) failed after {attempts} attempts: {error}",
            collection.as_deref().unwrap_or("a deleted collection")
        ),
        EventKind::HoldCreated {
            hold_id,
            collection,
            remote,
        } => format!(
            "deletions of {} on {} held for your decision: syncroll holds show {hold_id}",
            collection.as_deref().unwrap_or("a deleted collection"),
            remote.as_deref().unwrap_or("its remote")
        ),
        EventKind::ConflictCopied {
            collection,
            key,
            copy_path,
            ..
        } => {
            format!("{key} of {collection} changed on both sides: the remote's copy is {copy_path}")
        }
        EventKind::RootMissing { path, reason } => format!("{path} is missing: {reason}"),
        EventKind::RootBack { path } => format!("{path} is back"),
        EventKind::CollectionSynced {
            collection,
            remote,
            photos,
            synced,
            failed,
        } => format!(
            "{collection} is in sync on {remote}: {synced} of {photos} photos, {failed} failed jobs"
        ),
        EventKind::PauseChanged { collection, pause } => match pause {
            PauseChange::Paused { until: None } => {
                format!("{} paused until resumed", everywhere(collection))
            }
            PauseChange::Paused { until: Some(until) } => {
                let until = UNIX_EPOCH + Duration::from_secs((*until).max(0) as u64);
                format!(
                    "{} paused until {}",
                    everywhere(collection),
                    humantime::format_rfc3339_seconds(until)
                )
            }
            PauseChange::Resumed => format!("{} resumed", everywhere(collection)),
        },
        EventKind::LimitChanged {
            upload_bytes_per_second,
            download_bytes_per_second,
        } => {
            let rate = |r: &Option<u64>| match r {
                Some(r) => format!("{}/s", super::bytes(*r)),
                None => "unlimited".to_owned(),
            };
            format!(
                "bandwidth limit: upload {}, download {}",
                rate(upload_bytes_per_second),
                rate(download_bytes_per_second)
            )
        }
    }
}
