//! `syncroll remotes ...`.

use syncroll_proto::v1 as pb;

use super::absolute_path;
use crate::Client;
use crate::cli::{RemoteAddArgs, RemotesCommand};
use crate::output::{Failure, Output, shown};

pub async fn run(mut client: Client, command: RemotesCommand, out: Output) -> Result<(), Failure> {
    let rpc = &mut client.remotes;
    match command {
        RemotesCommand::Add(args) => {
            let RemoteAddArgs {
                name,
                kind,
                path,
                endpoint,
                bucket,
                region,
                prefix,
                access_key_id,
                secret_env,
                url,
                user,
                password_env,
                folder_etags,
                limit,
            } = *args;
            let path = match (kind.as_str(), path) {
                (_, Some(path)) => absolute_path(&path)?,
                ("fs", None) => {
                    return Err(Failure::Input(
                        "a remote of kind fs needs --path DIR".to_owned(),
                    ));
                }
                (_, None) => String::new(),
            };
            if folder_etags && kind != "webdav" {
                return Err(Failure::Input(format!(
                    "--folder-etags is for remotes of kind webdav, not {kind}"
                )));
            }
            if kind == "webdav" && url.is_none() {
                return Err(Failure::Input(
                    "a remote of kind webdav needs --url URL".to_owned(),
                ));
            }
            // The secret travels from the CLI's environment to the daemon
            // once, over the owner-only socket; it is never an argument (argv
            // is visible to every user).
            let from_env = |var: &str, flag: &str| {
                std::env::var(var).map_err(|_| {
                    Failure::Input(format!(
                        "environment variable {var} (from {flag}) is not set"
                    ))
                })
            };
            let secret = match (secret_env, password_env) {
                (Some(_), Some(_)) => {
                    return Err(Failure::Input(
                        "give --secret-env (s3) or --password-env (webdav), not both".to_owned(),
                    ));
                }
                (Some(var), None) => from_env(&var, "--secret-env")?,
                (None, Some(var)) => from_env(&var, "--password-env")?,
                (None, None) if kind == "s3" => {
                    return Err(Failure::Input(
                        "a remote of kind s3 needs --secret-env VAR naming the variable that holds its secret"
                            .to_owned(),
                    ));
                }
                (None, None) => String::new(),
            };
            let request = pb::AddRemoteRequest {
                name,
                kind,
                path,
                endpoint: endpoint.unwrap_or_default(),
                bucket: bucket.unwrap_or_default(),
                region: region.unwrap_or_default(),
                prefix: prefix.unwrap_or_default(),
                access_key_id: access_key_id.unwrap_or_default(),
                secret,
                url: url.unwrap_or_default(),
                user: user.unwrap_or_default(),
                folder_etags,
                limit,
            };
            let reply = rpc.add_remote(request).await?.into_inner();
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
                    shown(&reply.detail)
                )));
            }
            out.document(&reply, || format!("ok: {}", shown(&reply.detail)));
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
    let limit = r
        .limit
        .as_ref()
        .map(|l| format!("  limit {l}"))
        .unwrap_or_default();
    format!(
        "{}{default}  {}  {}  {} collections{limit}",
        shown(&r.name),
        r.kind,
        shown(&r.location),
        r.collection_count
    )
}
