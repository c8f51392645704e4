//! `connect`, `disconnect`, `conflicts` and `rescan --remote`.

use std::time::{Duration, UNIX_EPOCH};

use syncroll_proto::v1 as pb;

use super::{absolute_path, count};
use crate::Client;
use crate::cli::{ConnectArgs, RescanArgs};
use crate::output::{Failure, Output, shown};

pub async fn connect(mut client: Client, args: ConnectArgs, out: Output) -> Result<(), Failure> {
    let inbox = match &args.inbox {
        Some(inbox) => absolute_path(inbox)?,
        None => String::new(),
    };
    let request = pb::ConnectCollectionRequest {
        name: args.name,
        direction: args.direction,
        returns: args.returns.unwrap_or_default(),
        inbox,
        poll_seconds: args.poll.map_or(0, |p| p.as_secs()),
    };
    let reply = client
        .connections
        .connect_collection(request)
        .await?
        .into_inner();
    out.document(&reply, || {
        let Some(k) = &reply.connection else {
            return String::new();
        };
        let verb = if reply.created {
            "connected"
        } else {
            "updated"
        };
        let mut text = format!(
            "{verb} {} <-> {}: {}",
            shown(&k.collection),
            shown(&k.remote),
            summary(k)
        );
        text.push_str(&format!("\ninbox    {}", shown(&k.inbox)));
        if reply.uploads_queued > 0 {
            text.push_str(&format!(
                "\nsync turned on: {} uploads queued (follow with `syncroll watch`)",
                count(reply.uploads_queued)
            ));
        }
        text
    });
    Ok(())
}

pub async fn disconnect(mut client: Client, name: String, out: Output) -> Result<(), Failure> {
    let reply = client
        .connections
        .disconnect_collection(pb::DisconnectCollectionRequest { name: name.clone() })
        .await?
        .into_inner();
    out.document(&reply, || {
        let remote = reply
            .collection
            .as_ref()
            .map(|c| c.remote.clone())
            .unwrap_or_default();
        if reply.was_connected {
            format!(
                "disconnected {}: it syncs push-only to {} again; nothing was deleted",
                shown(&name),
                shown(&remote)
            )
        } else {
            format!("{} was not connected; nothing changed", shown(&name))
        }
    });
    Ok(())
}

pub async fn conflicts(mut client: Client, all: bool, out: Output) -> Result<(), Failure> {
    let reply = client
        .connections
        .list_conflicts(pb::ListConflictsRequest { all })
        .await?
        .into_inner();
    out.document(&reply, || {
        if reply.conflicts.is_empty() {
            return "no conflicts".to_owned();
        }
        let mut lines = Vec::new();
        for c in &reply.conflicts {
            lines.push(format!(
                "{} {} ({} on {}, {})",
                c.id,
                shown(&c.local_path),
                shown(&c.collection),
                shown(&c.remote),
                c.state
            ));
            lines.push(format!(
                "    the remote's bytes, seen {}: {}",
                utc(c.detected_at_ms),
                shown(&c.copy_path)
            ));
        }
        lines.join("\n")
    });
    Ok(())
}

/// `rescan --remote NAME`.
pub async fn poll(mut client: Client, args: RescanArgs, out: Output) -> Result<(), Failure> {
    let remote = args.remote.unwrap_or_default();
    let reply = client
        .connections
        .poll_remote(pb::PollRemoteRequest {
            remote: remote.clone(),
        })
        .await?
        .into_inner();
    out.document(&reply, || {
        let names: Vec<String> = reply
            .collections
            .iter()
            .map(|c| shown(c).into_owned())
            .collect();
        format!("poll of {} asked for: {}", shown(&remote), names.join(", "))
    });
    Ok(())
}

/// "both, edits return as versions, polled every 1m".
pub fn summary(k: &pb::Connection) -> String {
    let returns = match k.returns.as_str() {
        "version" => "edits return as versions",
        _ => "edits return as copies",
    };
    let every = humantime::format_duration(Duration::from_secs(k.poll_seconds));
    format!("{}, {returns}, polled every {every}", k.direction)
}

/// "never", or "2026-12-01T21:35:07Z: listed 3 objects".
pub fn last_poll(k: &pb::Connection) -> String {
    if k.last_polled_at_ms == 0 {
        return "never".to_owned();
    }
    let mut text = utc(k.last_polled_at_ms);
    if !k.last_poll_outcome.is_empty() {
        text.push_str(&format!(": {}", shown(&k.last_poll_outcome)));
    }
    text
}

/// Unix ms as RFC 3339 UTC, to the second.
fn utc(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}
