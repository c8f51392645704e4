//! `syncroll roots ...` and `syncroll rescan`.

use syncroll_proto::v1 as pb;

use super::{absolute_path, bytes, count};
use crate::Client;
use crate::cli::{RescanArgs, RootsCommand};
use crate::output::{Failure, Output, shown};

pub async fn run(mut client: Client, command: RootsCommand, out: Output) -> Result<(), Failure> {
    match command {
        RootsCommand::Add { path } => {
            let path = absolute_path(&path)?;
            let reply = client
                .catalog
                .add_root(pb::AddRootRequest { path })
                .await?
                .into_inner();
            out.document(&reply, || {
                let path = reply.root.as_ref().map_or("", |r| r.path.as_str());
                format!(
                    "added root {}; scanning it now (see `syncroll status`)",
                    shown(path)
                )
            });
        }
        RootsCommand::List => {
            let reply = client
                .catalog
                .list_roots(pb::ListRootsRequest {})
                .await?
                .into_inner();
            out.document(&reply, || {
                if reply.roots.is_empty() {
                    return "no roots yet: add one with `syncroll roots add PATH`".to_owned();
                }
                reply
                    .roots
                    .iter()
                    .map(root_line)
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        RootsCommand::Remove { path } => {
            let path = absolute_path(&path)?;
            let reply = client
                .catalog
                .remove_root(pb::RemoveRootRequest { path: path.clone() })
                .await?
                .into_inner();
            out.document(&reply, || {
                format!(
                    "removed root {}; forgot {} photos (files on disk untouched)",
                    shown(&path),
                    count(reply.photos_forgotten)
                )
            });
        }
    }
    Ok(())
}

pub async fn rescan(mut client: Client, args: RescanArgs, out: Output) -> Result<(), Failure> {
    let path = match &args.path {
        Some(path) => absolute_path(path)?,
        None => String::new(),
    };
    let wait = !args.no_wait;
    let reply = client
        .catalog
        .rescan(pb::RescanRequest { path, wait })
        .await?
        .into_inner();
    out.document(&reply, || {
        if !wait {
            return "rescan queued".to_owned();
        }
        let mut text = format!(
            "rescanned: {} files seen, {} hashed; {} added, {} updated, {} renamed, {} removed",
            count(reply.files_seen),
            count(reply.files_hashed),
            reply.photos_added,
            reply.photos_updated,
            reply.photos_renamed,
            reply.photos_removed
        );
        for missing in &reply.missing_roots {
            text.push_str(&format!(
                "\nroot {} is missing; its photos are kept",
                shown(missing)
            ));
        }
        text
    });
    Ok(())
}

/// One root as a line of text, for `roots list` and `status`.
pub fn root_line(root: &pb::Root) -> String {
    let totals = format!(
        "{} photos, {}",
        count(root.photo_count),
        bytes(root.total_bytes)
    );
    if root.state == "missing" {
        format!(
            "{}  MISSING: {} ({totals} kept)",
            shown(&root.path),
            shown(&root.missing_reason)
        )
    } else {
        format!("{}  {}  {totals}", shown(&root.path), root.state)
    }
}
