//! `syncroll remotes ...`.

use syncroll_proto::v1 as pb;

use super::absolute_path;
use crate::Client;
use crate::cli::RemotesCommand;
use crate::output::{Failure, Output};

pub async fn run(mut client: Client, command: RemotesCommand, out: Output) -> Result<(), Failure> {
    let rpc = &mut client.remotes;
    match command {
        RemotesCommand::Add { name, kind, path } => {
            let path = match (kind.as_str(), path) {
                (_, Some(path)) => absolute_path(&path)?,
                ("fs", None) => {
                    return Err(Failure::Input(
                        "a remote of kind fs needs --path DIR".to_owned(),
                    ));
                }
                (_, None) => String::new(),
            };
            let reply = rpc
                .add_remote(pb::AddRemoteRequest { name, kind, path })
                .await?
                .into_inner();
            out.document(&reply, || {
                reply
                    .remote
                    .as_ref()
                    .map(line)
                    .map(|l| format!("added {l}"))
                    .unwrap_or_default()
            });
        }
        RemotesCommand::List => {
            let reply = rpc
                .list_remotes(pb::ListRemotesRequest {})
                .await?
                .into_inner();
            out.document(&reply, || {
                reply
                    .remotes
                    .iter()
                    .map(line)
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        RemotesCommand::Test { name } => {
            let reply = rpc
                .test_remote(pb::TestRemoteRequest { name: name.clone() })
                .await?
                .into_inner();
            if !reply.ok {
                return Err(Failure::Input(format!(
                    "remote {name:?} failed its test: {}",
                    reply.detail
                )));
            }
            out.document(&reply, || format!("ok: {}", reply.detail));
        }
        RemotesCommand::Remove { name } => {
            let reply = rpc
                .remove_remote(pb::RemoveRemoteRequest { name: name.clone() })
                .await?
                .into_inner();
            out.document(&reply, || {
                format!("removed remote {name:?} (its objects are left in place)")
            });
        }
    }
    Ok(())
}

fn line(r: &pb::Remote) -> String {
    let default = if r.is_default { " (default)" } else { "" };
    format!(
        "{}{default}  {}  {}  {} collections",
        r.name, r.kind, r.location, r.collection_count
    )
}
