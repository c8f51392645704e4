//! `syncroll photos`: streams the listing, one line per photo as it arrives,
//! so a catalog of any size lists in constant memory.

use syncroll_proto::v1 as pb;

use super::bytes;
use crate::Client;
use crate::cli::PhotosArgs;
use crate::output::{Failure, Output, shown};

pub async fn run(mut client: Client, args: PhotosArgs, out: Output) -> Result<(), Failure> {
    if args.synced {
        return synced(client, args.limit.unwrap_or(0), out).await;
    }
    let request = pb::ListPhotosRequest {
        collection: args.collection.unwrap_or_default(),
        limit: args.limit.unwrap_or(0),
    };
    let mut stream = client.catalog.list_photos(request).await?.into_inner();
    while let Some(photo) = stream.message().await? {
        out.line(&photo, || line(&photo));
    }
    Ok(())
}

fn line(photo: &pb::Photo) -> String {
    let hash = photo.blake3.get(..12).unwrap_or(&photo.blake3);
    let missing = if photo.root_missing {
        "  (root missing)"
    } else {
        ""
    };
    format!(
        "{:>10}  {hash}  {}/{}{missing}",
        bytes(photo.size),
        shown(photo.root.trim_end_matches('/')),
        shown(&photo.path)
    )
}

/// `photos --synced`: every photo of a synced collection, with its state in
/// each of them.
async fn synced(mut client: Client, limit: u64, out: Output) -> Result<(), Failure> {
    let request = pb::ListSyncedPhotosRequest { limit };
    let mut stream = client.sync.list_synced_photos(request).await?.into_inner();
    while let Some(item) = stream.message().await? {
        out.line(&item, || {
            let states: Vec<String> = item
                .collections
                .iter()
                .map(|c| format!("{}: {}", shown(&c.collection), c.state))
                .collect();
            let photo = item.photo.as_ref().map(line).unwrap_or_default();
            format!("{photo}  [{}]", states.join(", "))
        });
    }
    Ok(())
}
