//! `versions PATH` and `versions restore PATH N`: the App's side of the
//! version store ([`crate::versions`]), which owns the bytes and the rules.

use syncroll_core::root_identity::FolderProbe;
use syncroll_core::versions::Version;
use syncroll_core::{Error, RelPath, Root, RootState};

use super::{App, AppError, AppResult, absolute_path};
use crate::scanner::{ScanReason, ScanTarget, probe_folder};
use crate::versions::{Restored, resolved};

impl App {
    /// The versions of the file at `path`, oldest first, with the path as
    /// the store names it.
    pub async fn list_versions(&self, path: &str) -> AppResult<(String, Vec<Version>)> {
        let (path, versions) = self.versions.list(&absolute_path(path)?).await?;
        Ok((path.display().to_string(), versions))
    }

    /// Restores version `number` of the file at `path`, then indexes the
    /// file's new bytes as any change is (a scan of that one file), so
    /// the catalog and sync see them before this returns. Only a file
    /// under a root that is online and is the folder it was added as: the
    /// daemon never writes anywhere else, nor onto a bare mount point.
    pub async fn restore_version(&self, path: &str, number: u64) -> AppResult<Restored> {
        let path = resolved(&absolute_path(path)?);
        let (root, rel) = self.store.locate(&path).await?;
        check_root_here(&root).await?;
        let restored = self.versions.restore(&path, number).await?;
        self.index_one(&root, rel).await?;
        Ok(restored)
    }

    async fn index_one(&self, root: &Root, rel: RelPath) -> AppResult<()> {
        let scope = ScanTarget::Scopes {
            root: root.id,
            scopes: vec![rel],
        };
        self.scanner
            .scan(scope, ScanReason::Rescan)
            .await
            .map_err(AppError::Scan)?;
        Ok(())
    }
}

/// The root is online and its folder is still the one it was added as.
async fn check_root_here(root: &Root) -> Result<(), Error> {
    let not_here = || Error::RootNotVerified(root.path.clone());
    if root.state != RootState::Online {
        return Err(not_here());
    }
    match probe_folder(root.path.clone()).await {
        FolderProbe::Present { identity, .. } if root.identity.is_none_or(|r| r == identity) => {
            Ok(())
        }
        _ => Err(not_here()),
    }
}
