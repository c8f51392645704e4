//! Remote deletions: after a complete listing, the ledger's keys of the
//! album that the listing did not hold were deleted on the remote. Each is
//! decided by [`decide`] with the remote side absent:
//! - gone on both sides: the ledger forgets it;
//! - changed here since the base: modify beats delete, it is sent again;
//! - unchanged here: the photo leaves the collection and stays on disk,
//!   through the deletion brake, so an album emptied by mistake (or an
//!   `fs` remote's share unmounted) holds instead of emptying the
//!   collection.
//!
//! The ledger is read in pages of keys in two passes, the first counting
//! what would leave (the brake decides on the whole poll's count), the
//! second carrying it out or holding it: nothing of the album is held in
//! memory but the listing's fingerprints.

use syncroll_core::connection::{Action, KeyState, Policy, decide::decide};
use syncroll_core::store::{Departure, DepartureCandidate, DepartureVerdict};
use syncroll_core::{CollectionKind, ContentHash, RelPath};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Inner;
use super::poll::{Album, AlbumLanding, PollError, PollReport, SeenKeys};

/// Ledger keys read at a time.
const PAGE: u32 = 2_000;

/// What one vanished key comes to.
enum Outcome {
    /// Gone on both sides.
    Forget(ContentHash),
    /// Changed here: uploaded again.
    SendAgain(ContentHash, RelPath),
    /// Unchanged here: leaves the collection.
    Leave(Departure),
    /// Not this engine's to decide (the push side owns it, or too little
    /// is known).
    Skip,
}

fn outcome(candidate: DepartureCandidate, policy: &Policy) -> Outcome {
    let Some(rel_path) = candidate.rel_path else {
        // A ledger row older than paths were kept: which file it was
        // placed from is unknown, so nothing is concluded.
        return Outcome::Skip;
    };
    if candidate.photo.is_some() && !candidate.member {
        // The photo left the collection here: the push side is removing
        // the copy, which is gone already.
        return Outcome::Skip;
    }
    let state = KeyState {
        base: Some(candidate.base.clone()),
        local: candidate.photo.map(|(_, local)| local),
        remote: None,
        remote_is_ours: false,
    };
    match decide(&state, policy) {
        Action::ForgetBase => Outcome::Forget(candidate.base.local.hash),
        Action::Upload { .. } => Outcome::SendAgain(candidate.base.local.hash, rel_path),
        Action::LeaveCollection => match candidate.photo {
            Some((photo, local)) => Outcome::Leave(Departure {
                key: candidate.key,
                photo,
                hash: local.hash,
                bytes: candidate.bytes,
            }),
            None => Outcome::Skip,
        },
        _ => Outcome::Skip,
    }
}

/// One page of vanished keys, decided, and how many vanished keys were
/// placed too late to tell (left for the next poll).
async fn page(
    inner: &Inner,
    album: &Album,
    policy: &Policy,
    seen: &SeenKeys,
    listing_began_s: i64,
    after: &mut String,
) -> Result<Option<(Vec<(String, Outcome)>, u64)>, PollError> {
    let keys = inner
        .store
        .ledger_keys_page(album.remote_id, &album.folder_prefix, after, PAGE)
        .await?;
    let Some((last, _)) = keys.last() else {
        return Ok(None);
    };
    *after = last.clone();
    let mut too_recent = 0;
    let mut gone = Vec::new();
    for (key, placed_s) in keys {
        if seen.holds(&key) {
            continue;
        }
        // Placed in the second the listing began or after: the listing may
        // have passed its place before it was there. The ledger keeps
        // seconds, so this is decided by the next poll.
        if placed_s >= listing_began_s {
            too_recent += 1;
        } else {
            gone.push(key);
        }
    }
    // A manual collection's photos are where the ledger pins them, or the
    // members at their paths, on any root.
    let folder_root = match &album.landing {
        AlbumLanding::Folder { root, .. } => Some(root.id),
        AlbumLanding::Manual { .. } => None,
    };
    let candidates = inner
        .store
        .departure_candidates(album.remote_id, album.collection.id, folder_root, &gone)
        .await?;
    Ok(Some((
        candidates
            .into_iter()
            .map(|c| (c.key.clone(), outcome(c, policy)))
            .collect(),
        too_recent,
    )))
}

/// Decides and carries out the album's remote deletions; see the module.
pub(super) async fn carry_out(
    inner: &Inner,
    album: &Album,
    policy: &Policy,
    seen: &SeenKeys,
    listing_began_s: i64,
    report: &mut PollReport,
    cancel: &CancellationToken,
) -> Result<(), PollError> {
    // First pass: what is gone on both sides is forgotten and what changed
    // here is sent again (neither takes anything from the collection);
    // what would leave it is counted for the brake.
    let mut leaving = 0u64;
    let mut after = String::new();
    while let Some((decided, too_recent)) =
        page(inner, album, policy, seen, listing_began_s, &mut after).await?
    {
        if cancel.is_cancelled() {
            return Err(PollError::Cancelled);
        }
        report.later += too_recent;
        let mut forget = Vec::new();
        let mut again = Vec::new();
        for (key, outcome) in decided {
            match outcome {
                Outcome::Forget(hash) => forget.push((key, hash)),
                Outcome::SendAgain(hash, rel_path) => again.push((key, hash, rel_path)),
                Outcome::Leave(_) => leaving += 1,
                Outcome::Skip => {}
            }
        }
        inner.store.forget_keys(album.remote_id, &forget).await?;
        if !again.is_empty() {
            info!(
                count = again.len(),
                "copies deleted on the remote but changed here are sent again"
            );
            report.sent_again += again.len() as u64;
            inner
                .store
                .send_again(album.remote_id, album.collection.id, &again)
                .await?;
        }
    }

    let verdict = inner
        .store
        .brake_departures(
            album.collection.id,
            album.remote_id,
            leaving,
            seen.is_empty(),
        )
        .await?;
    if leaving > 0 {
        // Second pass: the departures, carried out or held as the brake
        // said. Keys that changed since the first pass are decided anew.
        let folder = matches!(album.collection.kind, CollectionKind::Folder { .. });
        let mut after = String::new();
        while let Some((decided, _)) =
            page(inner, album, policy, seen, listing_began_s, &mut after).await?
        {
            if cancel.is_cancelled() {
                return Err(PollError::Cancelled);
            }
            let departures: Vec<Departure> = decided
                .into_iter()
                .filter_map(|(_, outcome)| match outcome {
                    Outcome::Leave(departure) => Some(departure),
                    _ => None,
                })
                .collect();
            if departures.is_empty() {
                continue;
            }
            match verdict {
                DepartureVerdict::Run => {
                    inner
                        .store
                        .depart(album.collection.id, album.remote_id, folder, &departures)
                        .await?;
                    report.departed += departures.len() as u64;
                }
                DepartureVerdict::Held { hold } => {
                    inner
                        .store
                        .hold_departures(hold, album.remote_id, &departures)
                        .await?;
                    report.departures_held += departures.len() as u64;
                    report.hold = Some(hold);
                }
            }
        }
        match verdict {
            DepartureVerdict::Run => info!(
                departed = report.departed,
                "photos deleted on the remote left the collection; kept on disk"
            ),
            DepartureVerdict::Held { hold } => warn!(
                hold,
                held = report.departures_held,
                "photos deleted on the remote are held by the deletion brake; nothing left the \
                 collection"
            ),
        }
    }
    inner.store.settle_departures(album.collection.id).await?;
    if report.departed > 0 || report.sent_again > 0 {
        // The catalog changed under the planner without the scanner, which
        // is what usually asks it to plan.
        inner.sync.request_plan();
    }
    Ok(())
}
