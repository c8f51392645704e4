//! `versions PATH` and `versions restore PATH N`: the previous bytes of a
//! file, kept before new bytes replaced it.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use syncroll_proto::v1 as pb;

use super::{absolute_path, bytes};
use crate::Client;
use crate::cli::VersionsCommand;
use crate::output::{Failure, Output, shown};

pub async fn run(
    client: Client,
    command: Option<VersionsCommand>,
    path: Option<PathBuf>,
    out: Output,
) -> Result<(), Failure> {
    match (command, path) {
        (Some(VersionsCommand::Restore { path, number }), _) => {
            restore(client, path, number, out).await
        }
        (None, Some(path)) => list(client, path, out).await,
        // clap requires one or the other.
        (None, None) => Err(Failure::Input(
            "name a file: `syncroll versions PATH`".to_owned(),
        )),
    }
}

async fn list(mut client: Client, path: PathBuf, out: Output) -> Result<(), Failure> {
    let request = pb::ListVersionsRequest {
        path: absolute_path(&path)?,
    };
    let mut stream = client.versions.list_versions(request).await?.into_inner();
    let mut listed = 0;
    while let Some(version) = stream.message().await? {
        if listed == 0 && !out.json {
            println!("{}", shown(&version.path));
        }
        out.line(&version, || line(&version));
        listed += 1;
    }
    if !out.json {
        if listed == 0 {
            println!("{}: no versions", shown(&path.display().to_string()));
        } else {
            println!("bring one back with `syncroll versions restore PATH N`");
        }
    }
    Ok(())
}

async fn restore(
    mut client: Client,
    path: PathBuf,
    number: u64,
    out: Output,
) -> Result<(), Failure> {
    let request = pb::RestoreVersionRequest {
        path: absolute_path(&path)?,
        number,
    };
    let reply = client.versions.restore_version(request).await?.into_inner();
    out.document(&reply, || {
        let file = reply.restored.as_ref().map_or("", |v| v.path.as_str());
        let mut text = format!("{}: restored version {number}", shown(file));
        if let Some(kept) = &reply.kept {
            text.push_str(&format!(
                "; the bytes it held are kept as version {}",
                kept.number
            ));
        }
        text
    });
    Ok(())
}

/// `  2  2026-12-01T21:04:05Z  3.1 MiB  af1349b9c2d4  replaced by remote edit from nas`
fn line(version: &pb::Version) -> String {
    let created = SystemTime::UNIX_EPOCH
        + Duration::from_millis(u64::try_from(version.created_at_ms).unwrap_or(0));
    format!(
        "{:>4}  {}  {:>10}  {}  {}",
        version.number,
        humantime::format_rfc3339_seconds(created),
        bytes(version.size),
        version.hash.get(..12).unwrap_or(&version.hash),
        shown(&version.origin)
    )
}
