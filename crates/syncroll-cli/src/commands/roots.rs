//! `syncroll roots ...` and `syncroll rescan`.

use std::io::{BufRead, IsTerminal, Write};

use syncroll_proto::v1 as pb;

use super::{absolute_path, bytes, confirmed_on_terminal, count, needs_confirmation};
use crate::Client;
use crate::cli::{RescanArgs, RootAcceptArgs, RootsCommand};
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
        RootsCommand::Remove { path, yes } => {
            let path = absolute_path(&path)?;
            let mut request = pb::RemoveRootRequest {
                path: path.clone(),
                confirmed: yes,
            };
            let reply = match client.catalog.remove_root(request.clone()).await {
                Ok(reply) => reply,
                Err(status)
                    if needs_confirmation(&status) && confirmed_on_terminal(&status, out)? =>
                {
                    request.confirmed = true;
                    client.catalog.remove_root(request).await?
                }
                Err(status) => return Err(status.into()),
            }
            .into_inner();
            out.document(&reply, || {
                format!(
                    "removed root {}; forgot {} photos (files on disk untouched)",
                    shown(&path),
                    count(reply.photos_forgotten)
                )
            });
        }
        RootsCommand::Accept(args) => accept(client, args, out).await?,
    }
    Ok(())
}

/// `roots accept PATH`: shows what a scan of the folder now at the root's
/// path would change, asks (or takes `--yes`), then accepts exactly the
/// folder it showed.
async fn accept(mut client: Client, args: RootAcceptArgs, out: Output) -> Result<(), Failure> {
    let path = absolute_path(&args.path)?;
    let preview = client
        .catalog
        .accept_root(pb::AcceptRootRequest {
            path: path.clone(),
            dry_run: true,
            expect: None,
        })
        .await?
        .into_inner();
    if args.dry_run {
        out.document(&preview, || preview_text(&preview));
        return Ok(());
    }
    if !args.yes {
        eprintln!("{}", preview_text(&preview));
        confirm_accept(&path)?;
    }
    let reply = client
        .catalog
        .accept_root(pb::AcceptRootRequest {
            path,
            dry_run: false,
            expect: preview.found,
        })
        .await?
        .into_inner();
    out.document(&reply, || {
        let root = reply.root.clone().unwrap_or_default();
        let mut text = String::new();
        if args.yes {
            text.push_str(&preview_text(&reply));
            text.push('\n');
        }
        text.push_str(&format!(
            "accepted: {} is now {}\n{}",
            root.path,
            identity_text(reply.found.as_ref()),
            root_line(&root)
        ));
        text
    });
    Ok(())
}

/// Asks on the terminal; without one, `--yes` is needed.
fn confirm_accept(path: &str) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Failure::Input(format!(
            "not accepted: there is no terminal to ask on; run `syncroll roots accept {path} --yes` \
             to take this folder as the root"
        )));
    }
    eprint!("take this folder as root {path}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Failure::Input("not accepted; nothing changed".to_owned()))
    }
}

fn preview_text(reply: &pb::AcceptRootResponse) -> String {
    let root = reply.root.clone().unwrap_or_default();
    let preview = reply.preview.unwrap_or_default();
    format!(
        "root {}: the folder there now is {} (recorded: {})\n\
         a scan of it would add {}, remove {}, change {} and rename {} photos ({} unchanged)",
        root.path,
        identity_text(reply.found.as_ref()),
        identity_text(root.identity.as_ref()),
        count(preview.photos_added),
        count(preview.photos_removed),
        count(preview.photos_changed),
        count(preview.photos_renamed),
        count(preview.photos_unchanged),
    )
}

/// As `stat -c 'device %d, inode %i'` prints it.
fn identity_text(identity: Option<&pb::FolderIdentity>) -> String {
    match identity {
        Some(id) => format!("device {}, inode {}", id.device, id.inode),
        None => "none".to_owned(),
    }
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
        let watch = if root.watched {
            "watched"
        } else {
            "not watched"
        };
        format!("{}  {}, {watch}  {totals}", shown(&root.path), root.state)
    }
}
