//! Which files are photos: by extension, skipping hidden, temporary and
//! syncroll's own files.

use serde::{Deserialize, Serialize};

/// Extensions indexed by default (compared case-insensitively).
pub const DEFAULT_PHOTO_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "heic", "heif", "tif", "tiff", "webp", "avif", "gif", "dng", "cr2",
    "cr3", "nef", "arw", "raf", "orf", "rw2", "pef", "srw", "mp4", "mov", "m4v", "avi", "mts",
];

/// Decides whether a file name is a photo the catalog should index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoFilter {
    /// Lower-case extensions without the dot.
    extensions: Vec<String>,
}

impl Default for PhotoFilter {
    fn default() -> Self {
        Self::new(DEFAULT_PHOTO_EXTENSIONS.iter().copied())
    }
}

impl PhotoFilter {
    /// A filter for these extensions (any case, with or without a dot).
    pub fn new<S: AsRef<str>>(extensions: impl IntoIterator<Item = S>) -> Self {
        let extensions = extensions
            .into_iter()
            .map(|e| e.as_ref().trim_start_matches('.').to_ascii_lowercase())
            .collect();
        Self { extensions }
    }

    /// The extensions this filter accepts.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// True for a photo's file name (the last path component, raw bytes).
    pub fn is_photo(&self, file_name: &[u8]) -> bool {
        if is_ignored_name(file_name) {
            return false;
        }
        let Some(dot) = file_name.iter().rposition(|&b| b == b'.') else {
            return false;
        };
        let ext = &file_name[dot + 1..];
        self.extensions
            .iter()
            .any(|e| e.as_bytes().eq_ignore_ascii_case(ext))
    }
}

/// Hidden files and folders, editors' and browsers' temporary files, and
/// syncroll's own temporary files are never photos, and hidden folders are
/// not descended into.
pub fn is_ignored_name(name: &[u8]) -> bool {
    const TEMP_SUFFIXES: &[&[u8]] = &[
        b"~",
        b".tmp",
        b".temp",
        b".part",
        b".crdownload",
        b".partial",
    ];
    name.first() == Some(&b'.')
        || name.starts_with(b"~$")
        || name.starts_with(b".syncroll")
        || TEMP_SUFFIXES
            .iter()
            .any(|s| name.len() >= s.len() && name[name.len() - s.len()..].eq_ignore_ascii_case(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photo_extensions_match_any_case() {
        let f = PhotoFilter::default();
        for name in ["a.jpg", "B.JPG", "c.Nef", "d.cr3", "clip.MOV", "x.y.dng"] {
            assert!(f.is_photo(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn non_photos_hidden_and_temporary_files_are_skipped() {
        let f = PhotoFilter::default();
        for name in [
            "notes.txt",
            "jpg",
            ".hidden.jpg",
            "a.jpg~",
            "a.jpg.part",
            "~$a.jpg",
            "noext",
        ] {
            assert!(!f.is_photo(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn non_utf8_names_are_photos_too() {
        assert!(PhotoFilter::default().is_photo(b"caf\xe9.jpg"));
    }
}
