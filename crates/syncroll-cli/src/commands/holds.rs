//! `holds`: deletions the brake held, and the user's decision on them.

use syncroll_proto::v1 as pb;

use super::{bytes, count};
use crate::Client;
use crate::cli::HoldsCommand;
use crate::output::{Failure, Output, shown};

pub async fn run(
    mut client: Client,
    command: Option<HoldsCommand>,
    all: bool,
    out: Output,
) -> Result<(), Failure> {
    match command {
        None => {
            let reply = client
                .sync
                .list_holds(pb::ListHoldsRequest { all })
                .await?
                .into_inner();
            out.document(&reply, || listing(&reply.holds, all));
        }
        Some(HoldsCommand::Show { id }) => {
            let request = pb::ListHoldKeysRequest { hold_id: id };
            let mut stream = client.sync.list_hold_keys(request).await?.into_inner();
            while let Some(key) = stream.message().await? {
                out.line(&key, || {
                    format!(
                        "{:<9}  {:>10}  {}  ({})",
                        key.state,
                        bytes(key.bytes),
                        shown(&key.key),
                        shown(&key.reason)
                    )
                });
            }
        }
        Some(HoldsCommand::Approve { id }) => {
            let request = pb::DecideHoldRequest { hold_id: id };
            let reply = client.sync.approve_hold(request).await?.into_inner();
            out.document(&reply, || {
                let departed = reply.hold.as_ref().map_or(0, |h| h.remote_deleted);
                let mut line = format!(
                    "hold {id} approved: {} deletions queued (follow with `syncroll watch`)",
                    count(reply.deletions.saturating_sub(departed))
                );
                if departed > 0 {
                    line.push_str(&format!(
                        "; {} photos deleted from the remote album leave the collection at the \
                         next poll (kept on disk)",
                        count(departed)
                    ));
                }
                line
            });
        }
        Some(HoldsCommand::Reject { id }) => {
            let request = pb::DecideHoldRequest { hold_id: id };
            let reply = client.sync.reject_hold(request).await?.into_inner();
            out.document(&reply, || {
                let departed = reply.hold.as_ref().map_or(0, |h| h.remote_deleted);
                let mut line = format!(
                    "hold {id} rejected: {} remote copies kept; they are not deleted again \
                     unless their photos come back and go again, or you `syncroll retry` them",
                    count(reply.deletions.saturating_sub(departed))
                );
                if departed > 0 {
                    line.push_str(&format!(
                        "; {} photos deleted from the remote album stay in the collection (a \
                         connection that pushes uploads them again)",
                        count(departed)
                    ));
                }
                line
            });
        }
    }
    Ok(())
}

fn listing(holds: &[pb::Hold], all: bool) -> String {
    if holds.is_empty() {
        return if all {
            "no holds".to_owned()
        } else {
            "no deletions are held".to_owned()
        };
    }
    let mut lines = Vec::new();
    for hold in holds {
        lines.push(format!(
            "hold {} ({}): {}; {} of copies",
            hold.id,
            hold.state,
            shown(&hold.reason),
            bytes(hold.bytes)
        ));
    }
    if holds.iter().any(|h| h.state == "pending") {
        lines.push(
            "review with `syncroll holds show ID`, then `syncroll holds approve ID` \
             (delete them) or `syncroll holds reject ID` (keep them)"
                .to_owned(),
        );
    }
    lines.join("\n")
}
