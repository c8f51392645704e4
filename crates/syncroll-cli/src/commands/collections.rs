//! `syncroll collections ...`.

use syncroll_proto::v1 as pb;

use super::{absolute_path, bytes, count};
use crate::Client;
use crate::cli::CollectionsCommand;
use crate::output::{Failure, Output, shown};

pub async fn run(
    mut client: Client,
    command: CollectionsCommand,
    out: Output,
) -> Result<(), Failure> {
    let rpc = &mut client.collections;
    match command {
        CollectionsCommand::Create {
            name,
            folder,
            remote,
            sync,
        } => {
            let folder = match folder {
                Some(folder) => absolute_path(&folder)?,
                None => String::new(),
            };
            let request = pb::CreateCollectionRequest {
                name,
                folder,
                remote: remote.unwrap_or_default(),
                sync,
            };
            let reply = rpc.create_collection(request).await?.into_inner();
            out.document(&reply, || {
                reply
                    .collection
                    .as_ref()
                    .map(|c| format!("created {}", describe(c)))
                    .unwrap_or_default()
            });
        }
        CollectionsCommand::List => {
            let reply = rpc
                .list_collections(pb::ListCollectionsRequest {})
                .await?
                .into_inner();
            out.document(&reply, || {
                if reply.collections.is_empty() {
                    return "no collections yet: create one with `syncroll collections create NAME`".to_owned();
                }
                reply.collections.iter().map(describe).collect::<Vec<_>>().join("\n")
            });
        }
        CollectionsCommand::Show { name } => {
            let reply = rpc
                .get_collection(pb::GetCollectionRequest { name })
                .await?
                .into_inner();
            out.document(&reply, || {
                reply.collection.as_ref().map(details).unwrap_or_default()
            });
        }
        CollectionsCommand::Rename { old, new } => {
            let request = pb::RenameCollectionRequest {
                name: old.clone(),
                new_name: new.clone(),
            };
            let reply = rpc.rename_collection(request).await?.into_inner();
            out.document(&reply, || format!("renamed collection {old:?} to {new:?}"));
        }
        CollectionsCommand::Delete { name } => {
            let reply = rpc
                .delete_collection(pb::DeleteCollectionRequest { name: name.clone() })
                .await?
                .into_inner();
            out.document(&reply, || {
                format!("deleted collection {name:?} (its photos stay in the catalog and on disk)")
            });
        }
        CollectionsCommand::Add { name, paths } => {
            let paths = paths
                .iter()
                .map(|p| absolute_path(p))
                .collect::<Result<_, _>>()?;
            let request = pb::AddToCollectionRequest {
                name: name.clone(),
                paths,
            };
            let reply = rpc.add_to_collection(request).await?.into_inner();
            out.document(&reply, || {
                format!(
                    "added {} photos to {name:?}; it holds {}",
                    count(reply.photos_added),
                    count(reply.photo_count)
                )
            });
        }
        CollectionsCommand::Remove { name, paths } => {
            let paths = paths
                .iter()
                .map(|p| absolute_path(p))
                .collect::<Result<_, _>>()?;
            let request = pb::RemoveFromCollectionRequest {
                name: name.clone(),
                paths,
            };
            let reply = rpc.remove_from_collection(request).await?.into_inner();
            out.document(&reply, || {
                format!(
                    "removed {} photos from {name:?}; it holds {}",
                    count(reply.photos_removed),
                    count(reply.photo_count)
                )
            });
        }
    }
    Ok(())
}

fn describe(c: &pb::Collection) -> String {
    let kind = if c.kind == "folder" {
        format!("folder {}", shown(&c.folder))
    } else {
        "manual".to_owned()
    };
    format!(
        "{}  ({kind})  {} photos, {}  -> {}  sync {}",
        shown(&c.name),
        count(c.photo_count),
        bytes(c.total_bytes),
        shown(&c.remote),
        sync_state(c)
    )
}

/// "off", or "on: 120/600 photos synced" with "paused" when it is.
fn sync_state(c: &pb::Collection) -> String {
    if !c.sync_enabled {
        return "off".to_owned();
    }
    let paused = if c.paused { ", paused" } else { "" };
    let direction = c.connection.as_ref().map_or("", |k| k.direction.as_str());
    let jobs = c.jobs.unwrap_or_default();
    format!(
        "on{paused}: {}/{} photos, {}/{} synced{}",
        count(c.synced_count),
        count(c.photo_count),
        bytes(c.synced_bytes),
        bytes(c.total_bytes),
        super::sync::unsent(direction, c.photo_count, c.synced_count, &jobs)
    )
}

fn details(c: &pb::Collection) -> String {
    let mut lines = vec![
        format!("name     {}", shown(&c.name)),
        format!("kind     {}", c.kind),
    ];
    if c.kind == "folder" {
        lines.push(format!("folder   {}", shown(&c.folder)));
    }
    lines.push(format!("remote   {}", shown(&c.remote)));
    lines.push(format!("sync     {}", sync_state(c)));
    lines.push(format!(
        "photos   {} ({})",
        count(c.photo_count),
        bytes(c.total_bytes)
    ));
    // Added after the lines scripts already read, never between them.
    if let Some(k) = &c.connection {
        lines.push(format!("connect  {}", super::connections::summary(k)));
        lines.push(format!("inbox    {}", shown(&k.inbox)));
        lines.push(format!("polled   {}", super::connections::last_poll(k)));
    }
    lines.join("\n")
}
