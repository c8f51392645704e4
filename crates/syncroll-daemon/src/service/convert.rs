//! The only place that knows both the core types and the wire types.

use std::os::unix::ffi::OsStrExt;

use syncroll_core::{Collection, Error, Photo, Root, RootState};
use syncroll_proto::v1 as pb;
use tonic::{Code, Status};

use crate::app::{AppError, StatusSnapshot};
use crate::scanner::ScanSummary;

pub fn root(root: &Root) -> pb::Root {
    let missing_reason = match &root.state {
        RootState::Online => String::new(),
        RootState::Missing { reason } => reason.clone(),
    };
    pb::Root {
        path: root.path.display().to_string(),
        state: root.state.as_str().to_owned(),
        missing_reason,
        photo_count: root.photo_count,
        total_bytes: root.total_bytes,
        last_scan_at: root.last_scan_at,
    }
}

pub fn photo(photo: &Photo) -> pb::Photo {
    let path_raw = if photo.rel_path.is_utf8() {
        Vec::new()
    } else {
        photo
            .rel_path
            .under(&photo.root_path)
            .as_os_str()
            .as_bytes()
            .to_vec()
    };
    pb::Photo {
        id: photo.id.0 as u64,
        root: photo.root_path.display().to_string(),
        path: photo.rel_path.to_string(),
        path_raw,
        size: photo.stat.size,
        mtime_ns: photo.stat.mtime_ns,
        blake3: photo.hash.to_hex(),
        root_missing: photo.root_missing,
    }
}

pub fn collection(collection: &Collection) -> pb::Collection {
    pb::Collection {
        name: collection.name.clone(),
        kind: match collection.folder {
            Some(_) => "folder",
            None => "manual",
        }
        .to_owned(),
        folder: collection
            .folder
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_default(),
        remote: collection.remote_name.clone(),
        photo_count: collection.photo_count,
        total_bytes: collection.total_bytes,
        created_at: collection.created_at,
    }
}

pub fn rescan(summary: &ScanSummary) -> pb::RescanResponse {
    pb::RescanResponse {
        files_seen: summary.files_seen,
        files_hashed: summary.files_hashed,
        photos_added: summary.added,
        photos_updated: summary.updated,
        photos_removed: summary.removed,
        photos_renamed: summary.renamed,
        missing_roots: summary
            .missing_roots
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
    }
}

pub fn status(
    snapshot: StatusSnapshot,
    data_dir: String,
    socket_path: String,
) -> pb::GetStatusResponse {
    let scan = snapshot.scan;
    pb::GetStatusResponse {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_seconds: snapshot.uptime_seconds,
        data_dir,
        socket_path,
        roots: snapshot.roots.iter().map(root).collect(),
        photo_count: snapshot.photo_count,
        collection_count: snapshot.collection_count,
        scan: Some(pb::ScanProgress {
            scanning: scan.scanning,
            current_root: scan.current_root,
            files_seen: scan.files_seen,
            files_hashed: scan.files_hashed,
            bytes_hashed: scan.bytes_hashed,
            reason: scan.reason,
            last_finished_at: scan.last_finished_at,
            last_duration_ms: scan.last_duration_ms,
            unreadable_entries: scan.unreadable_entries,
        }),
        watcher: Some(pb::WatcherStatus {
            state: snapshot.watcher.state.as_str().to_owned(),
            detail: snapshot.watcher.detail,
            fallback_rescans: snapshot.watcher.fallback_rescans,
        }),
    }
}

impl From<AppError> for Status {
    fn from(error: AppError) -> Self {
        let code = match &error {
            AppError::Core(e) => code(e),
            AppError::Scan(e) => code(e),
        };
        Status::new(code, error.to_string())
    }
}

fn code(error: &Error) -> Code {
    match error {
        Error::InvalidName { .. }
        | Error::RelativePath(_)
        | Error::NonUtf8Root(_)
        | Error::NotADirectory(_)
        | Error::NotAPhoto(_)
        | Error::OutsideRoots(_)
        | Error::FolderCollectionMembership { .. } => Code::InvalidArgument,
        Error::CollectionNotFound(_)
        | Error::RemoteNotFound(_)
        | Error::RootNotFound(_)
        | Error::PathNotFound(_)
        | Error::JobNotFound(_) => Code::NotFound,
        Error::JobNotRetryable { .. } | Error::IllegalTransition(_) | Error::JobConflict(_) => {
            Code::FailedPrecondition
        }
        Error::CollectionExists(_) | Error::RootExists(_) | Error::RootOverlaps { .. } => {
            Code::AlreadyExists
        }
        Error::RootInUse { .. } => Code::FailedPrecondition,
        Error::Io { .. } | Error::Database { .. } | Error::Migrate(_) => Code::Internal,
    }
}
