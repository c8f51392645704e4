//! Sidecars: the files beside a photo that are part of it (develop settings
//! such as `.xmp`, `.aae`, `.pp3`, and a Live Photo's `.mov`), and which
//! photo each belongs to. Pure functions over file names; the store keeps
//! the answer in `photos.owner_id` (see `store::photos`).
//!
//! The rules (by file name, in one folder; extensions compared
//! case-insensitively):
//! - A sidecar is a file whose extension is one of the sidecar extensions.
//!   `N.EXT` belongs to the photo named exactly `N` (`IMG_1.NEF.xmp` to
//!   `IMG_1.NEF`); failing that, to a photo named `N.X` (`IMG_1.xmp` to
//!   `IMG_1.NEF`). When several photos share that stem (`IMG_1.jpg` and
//!   `IMG_1.NEF`), the raw one is the owner (the files editors write
//!   `IMG_1.xmp` for are raws), else the first by byte order of name, so
//!   the choice is stable and one key has one owner.
//! - A Live Photo motion file (`N.mov` by default) belongs to a still named
//!   `N.X`, X one of [`LIVE_PHOTO_STILLS`] (the first by byte order);
//!   without such a still it is what its extension alone makes it: a photo
//!   (a video) when its extension is a photo extension, else nothing.
//! - A sidecar is never a photo: it is not listed, not counted, never a
//!   member of a collection. One with no owner is indexed but not synced.

use crate::media::{DEFAULT_PHOTO_EXTENSIONS, is_ignored_name};
use crate::types::PhotoId;

/// Sidecar extensions by default.
pub const DEFAULT_SIDECAR_EXTENSIONS: &[&str] = &["xmp", "aae", "pp3", "dop", "on1", "cos"];

/// Live Photo motion extensions by default.
pub const DEFAULT_LIVE_PHOTO_EXTENSIONS: &[&str] = &["mov"];

/// The stills a Live Photo's motion file travels with.
pub const LIVE_PHOTO_STILLS: &[&str] = &["heic", "heif", "jpg", "jpeg"];

/// Raw formats: preferred owners of a stem's sidecar.
pub const RAW_EXTENSIONS: &[&str] = &[
    "dng", "cr2", "cr3", "nef", "arw", "raf", "orf", "rw2", "pef", "srw",
];

/// What a file is to the catalog, by its name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A sidecar extension: always a sidecar.
    Sidecar,
    /// A Live Photo motion extension: a sidecar when a still is beside it.
    Motion,
    /// Neither: a photo, if the photo filter says so.
    Other,
}

/// Which extensions are sidecars and Live Photo motion files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidecarRules {
    sidecars: Vec<String>,
    motion: Vec<String>,
    /// The photo extensions: a motion file without its still is a photo
    /// only if its extension is one of them.
    photos: Vec<String>,
}

impl Default for SidecarRules {
    fn default() -> Self {
        Self::new(DEFAULT_SIDECAR_EXTENSIONS, DEFAULT_LIVE_PHOTO_EXTENSIONS)
    }
}

fn normalised<S: AsRef<str>>(exts: impl IntoIterator<Item = S>) -> Vec<String> {
    exts.into_iter()
        .map(|e| e.as_ref().trim_start_matches('.').to_ascii_lowercase())
        .collect()
}

/// The extension of a file name (after its last dot), if it has one.
fn extension(name: &[u8]) -> Option<&[u8]> {
    let dot = name.iter().rposition(|&b| b == b'.')?;
    (dot > 0).then(|| &name[dot + 1..])
}

/// The name without its last extension.
fn stem(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b'.') {
        Some(dot) if dot > 0 => &name[..dot],
        _ => name,
    }
}

fn has_ext(exts: &[impl AsRef<str>], name: &[u8]) -> bool {
    extension(name).is_some_and(|ext| {
        exts.iter()
            .any(|e| e.as_ref().as_bytes().eq_ignore_ascii_case(ext))
    })
}

impl SidecarRules {
    /// Rules for these extensions (any case, with or without a dot).
    pub fn new<S: AsRef<str>, T: AsRef<str>>(
        sidecars: impl IntoIterator<Item = S>,
        motion: impl IntoIterator<Item = T>,
    ) -> Self {
        Self {
            sidecars: normalised(sidecars),
            motion: normalised(motion),
            photos: normalised(DEFAULT_PHOTO_EXTENSIONS),
        }
    }

    /// The rules with these photo extensions instead of the defaults.
    pub fn with_photo_extensions<S: AsRef<str>>(
        mut self,
        photos: impl IntoIterator<Item = S>,
    ) -> Self {
        self.photos = normalised(photos);
        self
    }

    /// Whether the file `name`, with its photo `owner` or none, is a
    /// sidecar (else a photo): a sidecar always, a motion file when it has
    /// its still or is no photo on its own.
    pub fn is_sidecar(&self, name: &[u8], owner: Option<PhotoId>) -> bool {
        match self.role(name) {
            Role::Sidecar => true,
            Role::Motion => owner.is_some() || !has_ext(&self.photos, name),
            Role::Other => false,
        }
    }

    /// No sidecars at all (the catalog as it was before them).
    pub fn none() -> Self {
        Self::new::<&str, &str>([], [])
    }

    /// What a file name (the last path component) is by its extension.
    pub fn role(&self, name: &[u8]) -> Role {
        if is_ignored_name(name) {
            Role::Other
        } else if has_ext(&self.sidecars, name) {
            Role::Sidecar
        } else if has_ext(&self.motion, name) {
            Role::Motion
        } else {
            Role::Other
        }
    }

    /// The owner of the sidecar or motion file `name` among `photos`, the
    /// photos (not sidecars) of its folder whose name is `N` or starts
    /// with `N.`, N being `name` without its extension; `None` when none
    /// qualifies (see the module's rules).
    pub fn owner<'a>(
        &self,
        name: &[u8],
        photos: impl IntoIterator<Item = (PhotoId, &'a [u8])>,
    ) -> Option<PhotoId> {
        let role = self.role(name);
        if role == Role::Other {
            return None;
        }
        let n = stem(name);
        let mut exact = None;
        // (not raw, name, id): the smallest wins.
        let mut best: Option<(bool, &[u8], PhotoId)> = None;
        for (id, photo) in photos {
            if photo == name {
                continue;
            }
            if photo == n && role == Role::Sidecar {
                exact = Some(id);
                continue;
            }
            let Some(rest) = photo.strip_prefix(n).and_then(|r| r.strip_prefix(b".")) else {
                continue;
            };
            if rest.is_empty() || rest.contains(&b'.') {
                continue;
            }
            if role == Role::Motion && !has_ext(LIVE_PHOTO_STILLS, photo) {
                continue;
            }
            let candidate = (!has_ext(RAW_EXTENSIONS, photo), photo, id);
            if best.is_none_or(|b| (candidate.0, candidate.1) < (b.0, b.1)) {
                best = Some(candidate);
            }
        }
        exact.or(best.map(|(_, _, id)| id))
    }
}

/// The byte range of names `N.…` for a name `N` in folder `dir` (a path
/// prefix ending in `/`, or empty): `[dir N '.', dir N '/')`, since `/`
/// follows `.` in byte order. Every photo a sidecar `N.EXT` may belong to
/// and every sidecar a photo `N.X` may own lies in the range of `N` (or,
/// for an exact owner, is `N` itself).
pub fn stem_range(dir: &[u8], n: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut low = [dir, n].concat();
    let mut high = low.clone();
    low.push(b'.');
    high.push(b'/');
    (low, high)
}

/// A path split into its folder (with the trailing `/`, or empty) and name.
pub fn split_path(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(slash) => path.split_at(slash + 1),
        None => (&[], path),
    }
}

/// The stem of a file name: without its last extension.
pub fn name_stem(name: &[u8]) -> &[u8] {
    stem(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(rules: &SidecarRules, name: &str, photos: &[(i64, &str)]) -> Option<i64> {
        rules
            .owner(
                name.as_bytes(),
                photos.iter().map(|(id, n)| (PhotoId(*id), n.as_bytes())),
            )
            .map(|p| p.0)
    }

    #[test]
    fn a_full_name_sidecar_belongs_to_its_photo_before_any_stem_match() {
        let r = SidecarRules::default();
        let photos = [(1, "IMG_1.NEF"), (2, "IMG_1.NEF.jpg")];
        assert_eq!(owner(&r, "IMG_1.NEF.xmp", &photos), Some(1));
        assert_eq!(owner(&r, "IMG_1.NEF.XMP", &photos), Some(1));
        assert_eq!(owner(&r, "IMG_1.NEF.pp3", &photos[1..]), Some(2));
    }

    #[test]
    fn a_stem_sidecar_prefers_the_raw_then_byte_order() {
        let r = SidecarRules::default();
        let both = [(1, "IMG_1.jpg"), (2, "IMG_1.NEF"), (3, "IMG_1.arw")];
        // Both raws: "IMG_1.NEF" < "IMG_1.arw" in byte order.
        assert_eq!(owner(&r, "IMG_1.xmp", &both), Some(2));
        assert_eq!(owner(&r, "IMG_1.xmp", &both[..1]), Some(1));
        assert_eq!(owner(&r, "IMG_1.aae", &[(4, "IMG_1.HEIC")]), Some(4));
        // IMG_10 and IMG_1.x.jpg are other stems.
        assert_eq!(
            owner(&r, "IMG_1.xmp", &[(5, "IMG_10.jpg"), (6, "IMG_1.x.jpg")]),
            None
        );
    }

    #[test]
    fn a_motion_file_goes_with_a_still_only() {
        let r = SidecarRules::default();
        assert_eq!(owner(&r, "IMG_1.MOV", &[(1, "IMG_1.HEIC")]), Some(1));
        assert_eq!(owner(&r, "IMG_1.mov", &[(1, "IMG_1.jpg")]), Some(1));
        assert_eq!(owner(&r, "IMG_1.mov", &[(1, "IMG_1.NEF")]), None);
        // Itself (a lone video is a photo row) is no owner.
        assert_eq!(owner(&r, "IMG_1.mov", &[(1, "IMG_1.mov")]), None);
        // A motion file has no exact owner: IMG_1 is not a still's name.
        assert_eq!(owner(&r, "IMG_1.mov", &[(1, "IMG_1")]), None);
    }

    #[test]
    fn a_motion_file_without_its_still_is_a_photo_only_with_a_photo_extension() {
        let r = SidecarRules::default();
        assert!(!r.is_sidecar(b"clip.mov", None));
        assert!(r.is_sidecar(b"IMG_1.mov", Some(PhotoId(1))));
        let no_mov = SidecarRules::default().with_photo_extensions(["jpg"]);
        assert!(no_mov.is_sidecar(b"clip.mov", None));
        assert!(r.is_sidecar(b"lone.xmp", None) && !r.is_sidecar(b"a.jpg", None));
    }

    #[test]
    fn roles_follow_the_configured_extensions() {
        let r = SidecarRules::new(["XMP", ".dop"], Vec::<String>::new());
        assert_eq!(r.role(b"a.xmp"), Role::Sidecar);
        assert_eq!(r.role(b"a.DOP"), Role::Sidecar);
        assert_eq!(r.role(b"a.aae"), Role::Other);
        assert_eq!(r.role(b"a.mov"), Role::Other);
        assert_eq!(r.role(b".hidden.xmp"), Role::Other);
        assert_eq!(SidecarRules::default().role(b"a.mov"), Role::Motion);
        assert_eq!(SidecarRules::none().role(b"a.xmp"), Role::Other);
    }

    #[test]
    fn the_stem_range_holds_the_stems_names_only() {
        let (low, high) = stem_range(b"2024/", b"IMG_1");
        for inside in ["2024/IMG_1.NEF", "2024/IMG_1.NEF.xmp", "2024/IMG_1.xmp"] {
            assert!(low.as_slice() <= inside.as_bytes() && inside.as_bytes() < high.as_slice());
        }
        for outside in [
            "2024/IMG_10.jpg",
            "2024/IMG_1",
            "2024/IMG_1/a.jpg",
            "IMG_1.jpg",
        ] {
            let b = outside.as_bytes();
            assert!(!(low.as_slice() <= b && b < high.as_slice()), "{outside}");
        }
        assert_eq!(split_path(b"a/b/c.jpg"), (&b"a/b/"[..], &b"c.jpg"[..]));
        assert_eq!(split_path(b"c.jpg"), (&b""[..], &b"c.jpg"[..]));
    }
}
