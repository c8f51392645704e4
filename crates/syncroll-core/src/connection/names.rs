//! The names of what comes home: an edit saved as a copy, a conflict's
//! remote bytes, and the remote names that must never be written locally.

use crate::quoted::quoted;

/// The longest file-name component most local file systems take (ext4,
/// APFS, NTFS in UTF-16 units aside), in bytes.
pub const MAX_COMPONENT_BYTES: usize = 255;

/// `IMG_1.jpg` as (`IMG_1`, `.jpg`); a name without a dot, or only a
/// leading one (`.hidden`), has no extension.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name, ""),
    }
}

/// `stem + suffix + ext`, the stem cut (at a character boundary) so the
/// whole fits [`MAX_COMPONENT_BYTES`]: a long name must still get its copy.
fn with_suffix(name: &str, suffix: &str) -> String {
    let (stem, ext) = split_extension(name);
    let room = MAX_COMPONENT_BYTES.saturating_sub(suffix.len() + ext.len());
    let mut cut = stem.len().min(room);
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}{ext}", &stem[..cut])
}

/// The next free `NAME (edit N).EXT` beside `name` (N from 1), `taken`
/// answering whether a name is in use in that folder.
pub fn edit_copy_name(name: &str, taken: impl Fn(&str) -> bool) -> String {
    (1u64..)
        .map(|n| with_suffix(name, &format!(" (edit {n})")))
        .find(|candidate| !taken(candidate))
        .expect("some number is free")
}

/// `NAME (conflict YYYY-MM-DD HHMMSS REMOTE).EXT` for the remote's bytes
/// of a conflict seen at `at_unix_s` (UTC) with remote `remote`; when two
/// conflicts of one file land within a second, the later one gets ` 2`,
/// ` 3`, ... after the remote's name.
pub fn conflict_copy_name(
    name: &str,
    at_unix_s: i64,
    remote: &str,
    taken: impl Fn(&str) -> bool,
) -> String {
    let stamp = utc_stamp(at_unix_s);
    (1u64..)
        .map(|n| {
            let again = if n == 1 {
                String::new()
            } else {
                format!(" {n}")
            };
            with_suffix(name, &format!(" (conflict {stamp} {remote}{again})"))
        })
        .find(|candidate| !taken(candidate))
        .expect("some number is free")
}

/// `YYYY-MM-DD HHMMSS` in UTC.
fn utc_stamp(unix_s: i64) -> String {
    let days = unix_s.div_euclid(86_400);
    let secs = unix_s.rem_euclid(86_400);
    let (y, m, d) = crate::calendar::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}{:02}{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// What the local file system the name would land on allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameRules {
    /// Names differing only in case are one file there (APFS and NTFS by
    /// default, a vfat stick).
    pub case_insensitive: bool,
}

/// Why a remote name is never written locally; shown in `status`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostileName {
    #[error("remote name {} is refused: it is empty", quoted(.0))]
    Empty(String),
    #[error("remote name {} is refused: it is absolute", quoted(.0))]
    Absolute(String),
    #[error("remote name {} is refused: it has a '..' component, which would climb out of the folder", quoted(.0))]
    ParentComponent(String),
    #[error("remote name {} is refused: it has an empty or '.' component", quoted(.0))]
    EmptyComponent(String),
    #[error("remote name {} is refused: it holds a backslash, a folder separator elsewhere", quoted(.0))]
    Backslash(String),
    #[error("remote name {} is refused: it holds a NUL or control character", quoted(.0))]
    ControlCharacter(String),
    #[error(
        "remote name {} is refused: its component {} is {bytes} bytes, more than the {MAX_COMPONENT_BYTES} a local file system allows",
        quoted(.name), quoted(.component)
    )]
    TooLong {
        name: String,
        component: String,
        bytes: usize,
    },
    #[error(
        "remote name {} is refused: it is {bytes} bytes, more than the {} a local path may be",
        quoted(.name), crate::paths::MAX_PATH_BYTES
    )]
    PathTooLong { name: String, bytes: usize },
    #[error(
        "remote name {} is refused: it differs only in case from {}, the same file on this case-insensitive file system",
        quoted(.name), quoted(.existing)
    )]
    CaseCollision { name: String, existing: String },
}

/// Checks a remote name (a key relative to the collection's folder on the
/// remote, `/`-separated) before anything is written under it locally.
/// `existing` are the names already there (local files and the remote
/// names taken so far in this poll), relative the same way.
pub fn check_remote_name<'a>(
    name: &str,
    rules: NameRules,
    existing: impl IntoIterator<Item = &'a str>,
) -> Result<(), HostileName> {
    let own = || name.to_owned();
    if name.is_empty() {
        return Err(HostileName::Empty(own()));
    }
    if name.starts_with('/') {
        return Err(HostileName::Absolute(own()));
    }
    if name.len() > crate::paths::MAX_PATH_BYTES {
        return Err(HostileName::PathTooLong {
            name: own(),
            bytes: name.len(),
        });
    }
    if name.contains('\\') {
        return Err(HostileName::Backslash(own()));
    }
    if name.chars().any(char::is_control) {
        return Err(HostileName::ControlCharacter(own()));
    }
    for component in name.split('/') {
        match component {
            ".." => return Err(HostileName::ParentComponent(own())),
            "" | "." => return Err(HostileName::EmptyComponent(own())),
            c if c.len() > MAX_COMPONENT_BYTES => {
                return Err(HostileName::TooLong {
                    name: own(),
                    component: c.to_owned(),
                    bytes: c.len(),
                });
            }
            _ => {}
        }
    }
    if rules.case_insensitive {
        let folded = name.to_lowercase();
        if let Some(existing) = existing
            .into_iter()
            .find(|e| *e != name && e.to_lowercase() == folded)
        {
            return Err(HostileName::CaseCollision {
                name: own(),
                existing: existing.to_owned(),
            });
        }
    }
    Ok(())
}

/// Whether `a` and `b` name one file on a case-insensitive file system.
/// Simple case folding (Unicode lowercase), which is what vfat, exFAT,
/// APFS, NTFS and ext4's casefold agree on for the names cameras and
/// phones write; a rarer fold they disagree on is still refused by the
/// file system's own "already exists" when the download is placed.
pub fn same_but_case(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

/// The names of one listing, kept to tell which differ only in case from
/// another: on a case-insensitive file system two such names are one file,
/// so neither is written (whichever came second would overwrite the first
/// one's bytes, or the first would be taken for the second's local file).
/// Only kept when the local file system is case-insensitive.
#[derive(Debug, Default)]
pub struct CaseFolds {
    /// The first name seen of each folded name.
    first: std::collections::HashMap<String, String>,
    /// A second, different name of a folded name, when one was seen.
    second: std::collections::HashMap<String, String>,
}

impl CaseFolds {
    pub fn add(&mut self, name: &str) {
        let folded = name.to_lowercase();
        match self.first.get(&folded) {
            None => {
                self.first.insert(folded, name.to_owned());
            }
            Some(first) if first != name => {
                self.second.entry(folded).or_insert_with(|| name.to_owned());
            }
            Some(_) => {}
        }
    }

    /// Another name of the listing that differs from `name` only in case,
    /// if there is one.
    pub fn twin_of(&self, name: &str) -> Option<&str> {
        let folded = name.to_lowercase();
        match self.first.get(&folded) {
            Some(first) if first != name => Some(first),
            Some(_) => self.second.get(&folded).map(String::as_str),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENSITIVE: NameRules = NameRules {
        case_insensitive: false,
    };
    const INSENSITIVE: NameRules = NameRules {
        case_insensitive: true,
    };

    #[test]
    fn edit_copies_take_the_next_free_number() {
        assert_eq!(edit_copy_name("IMG_1.jpg", |_| false), "IMG_1 (edit 1).jpg");
        let taken = ["IMG_1 (edit 1).jpg", "IMG_1 (edit 2).jpg"];
        assert_eq!(
            edit_copy_name("IMG_1.jpg", |n| taken.contains(&n)),
            "IMG_1 (edit 3).jpg"
        );
        assert_eq!(edit_copy_name("README", |_| false), "README (edit 1)");
        assert_eq!(edit_copy_name(".hidden", |_| false), ".hidden (edit 1)");
        assert_eq!(
            edit_copy_name("a.b.NEF", |_| false),
            "a.b (edit 1).NEF",
            "only the last extension moves"
        );
    }

    #[test]
    fn conflict_copies_name_the_time_in_utc_and_the_remote() {
        // 2026-12-01 21:35:07 UTC.
        let at = 1_796_160_907;
        assert_eq!(
            conflict_copy_name("IMG_1.jpg", at, "nas", |_| false),
            "IMG_1 (conflict 2026-12-01 213507 nas).jpg"
        );
        let first = "IMG_1 (conflict 2026-12-01 213507 nas).jpg";
        assert_eq!(
            conflict_copy_name("IMG_1.jpg", at, "nas", |n| n == first),
            "IMG_1 (conflict 2026-12-01 213507 nas 2).jpg"
        );
        assert_eq!(utc_stamp(0), "1970-01-01 000000");
        assert_eq!(utc_stamp(951_782_400), "2000-02-29 000000");
        assert_eq!(utc_stamp(-1), "1969-12-31 235959");
    }

    #[test]
    fn a_long_name_is_cut_so_its_copy_still_fits() {
        let long = format!("{}.jpg", "é".repeat(200));
        let copy = edit_copy_name(&long, |_| false);
        assert!(copy.len() <= MAX_COMPONENT_BYTES, "{} bytes", copy.len());
        assert!(copy.ends_with(" (edit 1).jpg"));
        let conflict = conflict_copy_name(&long, 0, "nas", |_| false);
        assert!(conflict.len() <= MAX_COMPONENT_BYTES);
    }

    #[test]
    fn hostile_remote_names_are_refused_with_the_reason() {
        let refused = |name: &str| check_remote_name(name, SENSITIVE, []).unwrap_err();
        assert!(matches!(refused(""), HostileName::Empty(_)));
        assert!(matches!(refused("/etc/passwd"), HostileName::Absolute(_)));
        assert!(matches!(
            refused("../x.jpg"),
            HostileName::ParentComponent(_)
        ));
        assert!(matches!(
            refused("a/../../x.jpg"),
            HostileName::ParentComponent(_)
        ));
        assert!(matches!(
            refused("a//x.jpg"),
            HostileName::EmptyComponent(_)
        ));
        assert!(matches!(refused("./x.jpg"), HostileName::EmptyComponent(_)));
        assert!(matches!(refused("a\\..\\x.jpg"), HostileName::Backslash(_)));
        assert!(matches!(
            refused("a\0.jpg"),
            HostileName::ControlCharacter(_)
        ));
        assert!(matches!(
            refused("a\nb.jpg"),
            HostileName::ControlCharacter(_)
        ));
        let long = format!("trip/{}.jpg", "x".repeat(252));
        assert!(matches!(
            refused(&long),
            HostileName::TooLong { bytes: 256, .. }
        ));
        let message = refused("../x.jpg").to_string();
        assert!(message.contains("\"../x.jpg\""), "{message}");
        assert!(message.contains("'..'"), "{message}");
    }

    #[test]
    fn plain_names_pass() {
        for name in [
            "x.jpg",
            "trip/day 1/IMG_1 (edit 1).jpg",
            "日本/写真.heic",
            "..x.jpg",
        ] {
            assert_eq!(check_remote_name(name, INSENSITIVE, []), Ok(()), "{name}");
        }
        let max = "x".repeat(MAX_COMPONENT_BYTES);
        assert_eq!(check_remote_name(&max, SENSITIVE, []), Ok(()));
    }

    #[test]
    fn a_case_twin_is_refused_only_where_case_does_not_count() {
        let existing = ["trip/IMG_1.jpg"];
        assert_eq!(
            check_remote_name("trip/img_1.JPG", SENSITIVE, existing),
            Ok(())
        );
        assert_eq!(
            check_remote_name("trip/img_1.JPG", INSENSITIVE, existing),
            Err(HostileName::CaseCollision {
                name: "trip/img_1.JPG".into(),
                existing: "trip/IMG_1.jpg".into()
            })
        );
        // The name itself is no twin of itself.
        assert_eq!(
            check_remote_name("trip/IMG_1.jpg", INSENSITIVE, existing),
            Ok(())
        );
    }

    #[test]
    fn names_that_differ_only_in_case_are_twins_both_ways() {
        let mut folds = CaseFolds::default();
        for name in [
            "trip/IMG_1.JPG",
            "trip/img_1.jpg",
            "trip/IMG_2.JPG",
            "Trip/IMG_2.JPG",
        ] {
            folds.add(name);
        }
        folds.add("trip/IMG_1.JPG");
        assert_eq!(folds.twin_of("trip/IMG_1.JPG"), Some("trip/img_1.jpg"));
        assert_eq!(folds.twin_of("trip/img_1.jpg"), Some("trip/IMG_1.JPG"));
        // A folder differing in case is the same folder there.
        assert_eq!(folds.twin_of("Trip/IMG_2.JPG"), Some("trip/IMG_2.JPG"));
        assert_eq!(folds.twin_of("trip/IMG_3.JPG"), None);
        let mut alone = CaseFolds::default();
        alone.add("a/É.jpg");
        alone.add("a/É.jpg");
        assert_eq!(
            alone.twin_of("a/É.jpg"),
            None,
            "the same name twice is no twin"
        );
        assert_eq!(alone.twin_of("a/é.jpg"), Some("a/É.jpg"));
        assert!(same_but_case("IMG_1.JPG", "img_1.jpg"));
        assert!(!same_but_case("IMG_1.JPG", "img_2.jpg"));
    }
}
