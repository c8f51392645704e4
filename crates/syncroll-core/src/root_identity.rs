//! Root identity: whether the folder now at a root's path is the folder
//! that was added, and so whether the catalog may read what it finds there
//! as the truth about that root's photos.
//!
//! A root records the device id and the inode of its folder when it is
//! added. An unmounted disk leaves the bare mount point behind (another
//! device); a folder moved away and replaced by a new one at the same path
//! has another inode. Either reads as "most photos deleted" to a naive scan,
//! so such a root is `missing` instead, and [`verify`] is the one function
//! that decides it. It is pure: the daemon looks at the folder and hands
//! over a [`FolderProbe`].
//!
//! Architecture invariant: photo rows of a root change only through
//! `Store::apply_photo_changes`, which takes a [`VerifiedRoot`], and only
//! [`verify`] makes one.

use std::fmt;

use crate::types::{Root, RootId};

/// Which folder a root is: the device it lives on and its inode there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FolderIdentity {
    /// `st_dev` of the folder.
    pub device: u64,
    /// `st_ino` of the folder.
    pub inode: u64,
}

/// As `stat -c 'device %d, inode %i'` prints them, so they can be compared.
impl fmt::Display for FolderIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "device {}, inode {}", self.device, self.inode)
    }
}

/// What a look at a root's folder found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderProbe {
    /// Nothing at the path.
    Absent,
    /// Something that is not a folder.
    NotAFolder,
    /// The folder cannot be read or listed; the OS error in words.
    Unreadable(String),
    /// A folder that can be listed.
    Present {
        identity: FolderIdentity,
        /// It holds nothing (or, after a walk of the whole root, no photo).
        empty: bool,
    },
}

/// Why a root is missing. Stored in words with the root and shown by
/// `roots list`, `status` and the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MissingReason {
    #[error("the folder does not exist: is the disk unmounted?")]
    Absent,
    #[error("the path is no longer a folder")]
    NotAFolder,
    #[error("cannot read the folder: {0}")]
    Unreadable(String),
    #[error(
        "the folder is on another device than when it was added ({found}; recorded {recorded}): \
         is the disk unmounted, or another one mounted there? If the disk was really replaced, \
         take it with `syncroll roots accept PATH`"
    )]
    DeviceChanged {
        recorded: FolderIdentity,
        found: FolderIdentity,
    },
    #[error(
        "the folder is not the one that was added ({found}; recorded {recorded}): was it moved \
         away or replaced? If the new folder is really this root, take it with \
         `syncroll roots accept PATH`"
    )]
    FolderReplaced {
        recorded: FolderIdentity,
        found: FolderIdentity,
    },
    #[error(
        "the folder is empty but the catalog holds {photos} photos from it: is the disk mounted?"
    )]
    EmptyWhileCataloged { photos: u64 },
    #[error(
        "the folder holds none of the {photos} photos the catalog has from it, and the root has \
         no recorded identity yet: is the disk mounted? If this folder really is the root, take \
         it with `syncroll roots accept PATH`"
    )]
    Unrecognised { photos: u64 },
    #[error(
        "the folder changed while it was being scanned ({found}; was {before}); scanned again later"
    )]
    ChangedDuringScan {
        before: FolderIdentity,
        found: FolderIdentity,
    },
}

/// A root whose folder was just found to be the one the catalog knows
/// (or, for a root added before identities were recorded, one that may
/// become it). The only key to changing the root's photo rows and to
/// setting it online; made only by [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRoot {
    id: RootId,
    identity: FolderIdentity,
    record: bool,
}

impl VerifiedRoot {
    pub fn id(&self) -> RootId {
        self.id
    }

    /// The identity the folder has now.
    pub fn identity(&self) -> FolderIdentity {
        self.identity
    }

    /// Whether this identity is to be recorded: the root had none yet and
    /// its folder is present and not empty.
    pub fn records_identity(&self) -> bool {
        self.record
    }
}

/// Decides whether `root`'s folder, as `probe` found it, is the root's
/// folder. `cataloged_photos` is how many photos the catalog holds for the
/// root; only consulted when the folder is empty, so a caller may pass 0
/// for "none" and any positive count for "some".
///
/// A root without a recorded identity (added before identities existed)
/// may take the identity of the first probe that finds its folder present
/// and not empty (an empty folder may be the bare mount point of an
/// unmounted disk); [`confirm_first_identity`] has the last word.
pub fn verify(
    root: &Root,
    probe: &FolderProbe,
    cataloged_photos: u64,
) -> Result<VerifiedRoot, MissingReason> {
    let (found, empty) = match probe {
        FolderProbe::Absent => return Err(MissingReason::Absent),
        FolderProbe::NotAFolder => return Err(MissingReason::NotAFolder),
        FolderProbe::Unreadable(error) => return Err(MissingReason::Unreadable(error.clone())),
        FolderProbe::Present { identity, empty } => (*identity, *empty),
    };
    match root.identity {
        Some(recorded) if recorded.device != found.device => {
            return Err(MissingReason::DeviceChanged { recorded, found });
        }
        Some(recorded) if recorded.inode != found.inode => {
            return Err(MissingReason::FolderReplaced { recorded, found });
        }
        _ => {}
    }
    if empty && cataloged_photos > 0 {
        return Err(MissingReason::EmptyWhileCataloged {
            photos: cataloged_photos,
        });
    }
    Ok(VerifiedRoot {
        id: root.id,
        identity: found,
        record: root.identity.is_none() && !empty,
    })
}

/// Checks a second probe of the same scan against the first: the folder
/// must not have changed in between (unmounted or swapped mid-walk).
pub fn reverify(
    first: &VerifiedRoot,
    root: &Root,
    probe: &FolderProbe,
    cataloged_photos: u64,
) -> Result<VerifiedRoot, MissingReason> {
    let again = verify(root, probe, cataloged_photos)?;
    if again.identity != first.identity {
        return Err(MissingReason::ChangedDuringScan {
            before: first.identity,
            found: again.identity,
        });
    }
    Ok(again)
}

/// What a walk of a root found of the photos the catalog holds for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WholeWalk {
    /// Photos the catalog holds for the root.
    pub cataloged: u64,
    /// Of those, how many the walk found (at their path, or renamed).
    pub recognised: u64,
}

/// Decides whether a root without a recorded identity may take its
/// folder's: only after a walk of the whole root (`walk`; a partial scan
/// never records one) that recognises at least one of the catalog's photos,
/// so a bare mount point holding a few unrelated files is not taken for the
/// root at the first start after the upgrade. A root with an identity passes
/// unchanged.
pub fn confirm_first_identity(
    verified: VerifiedRoot,
    walk: Option<WholeWalk>,
) -> Result<VerifiedRoot, MissingReason> {
    if !verified.record {
        return Ok(verified);
    }
    match walk {
        None => Ok(VerifiedRoot {
            record: false,
            ..verified
        }),
        Some(walk) if walk.cataloged > 0 && walk.recognised == 0 => {
            Err(MissingReason::Unrecognised {
                photos: walk.cataloged,
            })
        }
        Some(_) => Ok(verified),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::types::RootState;

    const ADDED: FolderIdentity = FolderIdentity {
        device: 0x801,
        inode: 2,
    };

    fn root(identity: Option<FolderIdentity>) -> Root {
        Root {
            id: RootId(1),
            path: PathBuf::from("/mnt/photos"),
            state: RootState::Online,
            identity,
            photo_count: 0,
            total_bytes: 0,
            last_scan_at: 0,
        }
    }

    fn present(identity: FolderIdentity, empty: bool) -> FolderProbe {
        FolderProbe::Present { identity, empty }
    }

    #[test]
    fn the_folder_that_was_added_is_verified() {
        let verified = verify(&root(Some(ADDED)), &present(ADDED, false), 200).unwrap();
        assert_eq!(verified.identity(), ADDED);
        assert!(!verified.records_identity());
    }

    #[test]
    fn a_bare_mount_point_on_another_device_is_missing_even_with_photos_in_it() {
        let bare = FolderIdentity {
            device: 0x803,
            inode: 5123,
        };
        let reason = verify(&root(Some(ADDED)), &present(bare, false), 200).unwrap_err();
        assert!(matches!(reason, MissingReason::DeviceChanged { .. }));
        assert!(
            reason.to_string().contains("device 2051, inode 5123"),
            "{reason}"
        );
        assert!(reason.to_string().contains("roots accept"), "{reason}");
    }

    #[test]
    fn a_folder_replaced_on_the_same_device_is_missing() {
        let new = FolderIdentity {
            device: ADDED.device,
            inode: 99,
        };
        let reason = verify(&root(Some(ADDED)), &present(new, false), 200).unwrap_err();
        assert!(matches!(reason, MissingReason::FolderReplaced { .. }));
    }

    #[test]
    fn an_empty_folder_while_the_catalog_holds_photos_is_missing() {
        let reason = verify(&root(Some(ADDED)), &present(ADDED, true), 16).unwrap_err();
        assert_eq!(reason, MissingReason::EmptyWhileCataloged { photos: 16 });
        // An empty folder of an empty root is just empty.
        assert!(verify(&root(Some(ADDED)), &present(ADDED, true), 0).is_ok());
    }

    #[test]
    fn absent_and_unreadable_folders_are_missing() {
        let r = root(Some(ADDED));
        assert_eq!(
            verify(&r, &FolderProbe::Absent, 1),
            Err(MissingReason::Absent)
        );
        assert_eq!(
            verify(&r, &FolderProbe::NotAFolder, 1),
            Err(MissingReason::NotAFolder)
        );
        assert!(matches!(
            verify(&r, &FolderProbe::Unreadable("denied".into()), 1),
            Err(MissingReason::Unreadable(_))
        ));
    }

    #[test]
    fn a_root_without_identity_takes_the_first_present_non_empty_folder() {
        let verified = verify(&root(None), &present(ADDED, false), 10).unwrap();
        assert!(verified.records_identity());
        // An empty folder is not taken: it may be a bare mount point.
        let empty_root = verify(&root(None), &present(ADDED, true), 0).unwrap();
        assert!(!empty_root.records_identity());
        assert!(verify(&root(None), &present(ADDED, true), 3).is_err());
    }

    #[test]
    fn a_first_identity_is_taken_only_from_a_whole_walk_that_recognises_a_photo() {
        let legacy = verify(&root(None), &present(ADDED, false), 10).unwrap();
        let partial = confirm_first_identity(legacy.clone(), None).unwrap();
        assert!(
            !partial.records_identity(),
            "a partial scan records nothing"
        );
        let strange = WholeWalk {
            cataloged: 10,
            recognised: 0,
        };
        assert_eq!(
            confirm_first_identity(legacy.clone(), Some(strange)),
            Err(MissingReason::Unrecognised { photos: 10 })
        );
        let known = WholeWalk {
            cataloged: 10,
            recognised: 1,
        };
        assert!(
            confirm_first_identity(legacy, Some(known))
                .unwrap()
                .records_identity()
        );
        // A root with an identity is not second-guessed here.
        let recorded = verify(&root(Some(ADDED)), &present(ADDED, false), 10).unwrap();
        assert_eq!(
            confirm_first_identity(recorded.clone(), Some(strange)),
            Ok(recorded)
        );
    }

    #[test]
    fn a_folder_swapped_between_two_probes_of_one_scan_is_missing() {
        let r = root(None);
        let first = verify(&r, &present(ADDED, false), 10).unwrap();
        let other = FolderIdentity {
            device: 0x803,
            inode: 2,
        };
        let reason = reverify(&first, &r, &present(other, false), 10).unwrap_err();
        assert!(matches!(reason, MissingReason::ChangedDuringScan { .. }));
        assert!(reverify(&first, &r, &present(ADDED, false), 10).is_ok());
    }
}
