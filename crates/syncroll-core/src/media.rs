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
    /// Extensions indexed beside photos without being photos: sidecars and
    /// Live Photo motion files (see [`crate::sidecars`]).
    #[serde(default)]
    companions: Vec<String>,
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
        Self {
            extensions,
            companions: Vec::new(),
        }
    }

    /// The filter also indexing files of these extensions (sidecars and
    /// motion files), which are not photos.
    pub fn with_companions<S: AsRef<str>>(
        mut self,
        extensions: impl IntoIterator<Item = S>,
    ) -> Self {
        self.companions = extensions
            .into_iter()
            .map(|e| e.as_ref().trim_start_matches('.').to_ascii_lowercase())
            .collect();
        self
    }

    /// True for a file the catalog indexes: a photo, or a sidecar or
    /// motion file that may belong to one.
    pub fn is_indexed(&self, file_name: &[u8]) -> bool {
        self.is_photo(file_name) || Self::matches(&self.companions, file_name)
    }

    /// The extensions this filter accepts.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// True for a photo's file name (the last path component, raw bytes).
    pub fn is_photo(&self, file_name: &[u8]) -> bool {
        Self::matches(&self.extensions, file_name)
    }

    fn matches(extensions: &[String], file_name: &[u8]) -> bool {
        if is_ignored_name(file_name) {
            return false;
        }
        let Some(dot) = file_name.iter().rposition(|&b| b == b'.') else {
            return false;
        };
        let ext = &file_name[dot + 1..];
        extensions
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
    fn companions_are_indexed_but_are_not_photos() {
        let f = PhotoFilter::default().with_companions(["XMP"]);
        assert!(f.is_indexed(b"a.xmp") && !f.is_photo(b"a.xmp"));
        assert!(f.is_indexed(b"a.jpg") && !f.is_indexed(b".a.xmp"));
        assert!(!PhotoFilter::default().is_indexed(b"a.xmp"));
    }

    #[test]
    fn non_utf8_names_are_photos_too() {
        assert!(PhotoFilter::default().is_photo(b"caf\xe9.jpg"));
    }
}
