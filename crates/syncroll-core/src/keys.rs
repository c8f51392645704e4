//! Remote keys: where a photo of a synced collection lives on a remote.
//!
//! The layout is the contract's: `P/NAME/<path relative to its root>`, so a
//! remote is browsable with any client and `rclone check ROOT REMOTE:P/NAME`
//! matches a folder collection of a whole root.
//!
//! Two rules make every photo's key unique and stable:
//! - Bytes of a file name that are not UTF-8 become `%XX` (keys are text on
//!   every remote protocol).
//! - When two photos of one collection from different roots have the same
//!   relative path, the one from the root added first keeps the plain key;
//!   each other one gets `~r<root id>` before its extension
//!   (`2024/a.jpg` → `2024/a~r3.jpg`).

use crate::types::{RelPath, RootId};

/// The key of `rel_path` in collection `name` under remote prefix `prefix`.
pub fn object_key(prefix: &str, name: &str, rel_path: &RelPath) -> String {
    let mut key = String::new();
    let prefix = prefix.trim_matches('/');
    if !prefix.is_empty() {
        key.push_str(prefix);
        key.push('/');
    }
    key.push_str(name);
    key.push('/');
    push_utf8_or_escaped(&mut key, rel_path.as_bytes());
    key
}

/// Why a photo at `rel_path` cannot have a key on any remote, if it cannot:
/// every remote refuses a key holding a control character (a newline in a
/// file name would split listings and logs), and keeps names ending in
/// `.syncroll-part` for its temporaries. Such a photo is skipped, with this
/// reason, instead of failing an upload again and again.
pub fn unsyncable_reason(rel_path: &RelPath) -> Option<&'static str> {
    // Bytes that are not UTF-8 are escaped into the key, so only real
    // characters count; a replacement character is not a control one.
    let text = String::from_utf8_lossy(rel_path.as_bytes());
    if text.chars().any(char::is_control) {
        Some("name holds a control character")
    } else if text.split('/').any(|part| part.ends_with(RESERVED_SUFFIX)) {
        Some("a folder name ends in .syncroll-part, which syncroll keeps for its temporaries")
    } else {
        None
    }
}

/// Remotes' suffix for syncroll's temporaries (`syncroll_remote` refuses
/// keys with a component ending in it).
const RESERVED_SUFFIX: &str = ".syncroll-part";

/// The key prefix (with trailing `/`) holding a collection's objects.
pub fn collection_prefix(prefix: &str, name: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        format!("{name}/")
    } else {
        format!("{prefix}/{name}/")
    }
}

/// `key` told apart for a photo of another root with the same path.
pub fn disambiguated(key: &str, root: RootId) -> String {
    let (dir, file) = key.rsplit_once('/').map_or(("", key), |(d, f)| (d, f));
    let tag = format!("~r{}", root.0);
    let file = match file.rfind('.') {
        Some(dot) if dot > 0 => format!("{}{tag}{}", &file[..dot], &file[dot..]),
        _ => format!("{file}{tag}"),
    };
    if dir.is_empty() {
        file
    } else {
        format!("{dir}/{file}")
    }
}

/// A key tagged with its root by [`disambiguated`], as the plain key and
/// the root; `None` for a key without a tag.
pub fn untagged(key: &str) -> Option<(String, RootId)> {
    let (dir, file) = key.rsplit_once('/').map_or(("", key), |(d, f)| (d, f));
    let (stem, ext) = match file.rfind('.') {
        Some(dot) if dot > 0 => (&file[..dot], &file[dot..]),
        _ => (file, ""),
    };
    let (stem, root) = stem.rsplit_once("~r")?;
    let root: i64 = root.parse().ok()?;
    let file = format!("{stem}{ext}");
    let key = if dir.is_empty() {
        file
    } else {
        format!("{dir}/{file}")
    };
    Some((key, RootId(root)))
}

/// The key of a photo's sidecar: the key rules applied to the sidecar's
/// own path, so it lands beside the photo. `photo_plain` is the photo's
/// plain key, `photo_key` the key it got (tagged with its root when it
/// shares its path with a photo of another root), `sidecar_plain` the
/// sidecar's plain key. A tagged photo's sidecars carry the same tag at the
/// same place, the end of the photo's stem, which every sidecar name
/// starts with (`a~r3.NEF` → `a~r3.xmp`, `a~r3.NEF.xmp`).
pub fn sidecar_key(photo_plain: &str, photo_key: &str, sidecar_plain: &str) -> String {
    if photo_plain == photo_key {
        return sidecar_plain.to_owned();
    }
    let at = photo_plain
        .bytes()
        .zip(photo_key.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let tag = &photo_key[at..at + (photo_key.len() - photo_plain.len())];
    if sidecar_plain.is_char_boundary(at)
        && sidecar_plain
            .as_bytes()
            .starts_with(&photo_plain.as_bytes()[..at])
    {
        format!("{}{tag}{}", &sidecar_plain[..at], &sidecar_plain[at..])
    } else {
        format!("{sidecar_plain}{tag}")
    }
}

/// The key of a sidecar of a photo whose key is pinned (see
/// [`crate::planner::Placed::pinned_root`]): beside that key, under the
/// sidecar's own file name, as a sidecar beside the photo is locally.
pub fn pinned_sidecar_key(photo_key: &str, sidecar: &RelPath) -> String {
    let folder = photo_key.rsplit_once('/').map_or("", |(folder, _)| folder);
    let bytes = sidecar.as_bytes();
    let name = bytes.rsplit(|b| *b == b'/').next().unwrap_or(bytes);
    let mut key = String::with_capacity(folder.len() + 1 + name.len());
    if !folder.is_empty() {
        key.push_str(folder);
        key.push('/');
    }
    push_utf8_or_escaped(&mut key, name);
    key
}

fn push_utf8_or_escaped(out: &mut String, mut bytes: &[u8]) {
    loop {
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                out.push_str(text);
                return;
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let bad = e.error_len().unwrap_or(rest.len());
                for b in &rest[..bad] {
                    out.push_str(&format!("%{b:02X}"));
                }
                bytes = &rest[bad..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(b: &[u8]) -> RelPath {
        RelPath::from_bytes(b.to_vec())
    }

    #[test]
    fn layout_is_prefix_name_relative_path() {
        assert_eq!(
            object_key("", "Trip", &rel(b"2024/a.jpg")),
            "Trip/2024/a.jpg"
        );
        assert_eq!(
            object_key("/photos/", "Trip", &rel(b"a.jpg")),
            "photos/Trip/a.jpg"
        );
        assert_eq!(collection_prefix("p", "Trip"), "p/Trip/");
    }

    #[test]
    fn non_utf8_bytes_are_escaped() {
        assert_eq!(object_key("", "C", &rel(b"caf\xe9.jpg")), "C/caf%E9.jpg");
    }

    #[test]
    fn names_no_remote_can_hold_are_unsyncable() {
        assert_eq!(unsyncable_reason(&rel(b"2024/a.jpg")), None);
        assert_eq!(unsyncable_reason(&rel(b"caf\xe9\x85.jpg")), None);
        for name in [
            &b"a\nb.jpg"[..],
            b"\x1b[2Ja.jpg",
            b"tab\t.jpg",
            b"c1\xc2\x85.jpg",
        ] {
            assert_eq!(
                unsyncable_reason(&rel(name)),
                Some("name holds a control character"),
                "{name:?}"
            );
        }
        assert!(unsyncable_reason(&rel(b"x.syncroll-part/a.jpg")).is_some());
    }

    #[test]
    fn a_tagged_photos_sidecars_carry_its_tag_after_its_stem() {
        let (plain, tagged) = ("C/d/IMG_1.NEF", disambiguated("C/d/IMG_1.NEF", RootId(3)));
        assert_eq!(
            sidecar_key(plain, &tagged, "C/d/IMG_1.NEF.xmp"),
            "C/d/IMG_1~r3.NEF.xmp"
        );
        assert_eq!(
            sidecar_key(plain, &tagged, "C/d/IMG_1.xmp"),
            "C/d/IMG_1~r3.xmp"
        );
        assert_eq!(sidecar_key(plain, plain, "C/d/IMG_1.xmp"), "C/d/IMG_1.xmp");
    }

    #[test]
    fn collisions_get_a_root_tag_before_the_extension() {
        assert_eq!(disambiguated("C/2024/a.jpg", RootId(3)), "C/2024/a~r3.jpg");
        assert_eq!(disambiguated("C/noext", RootId(2)), "C/noext~r2");
        assert_eq!(disambiguated("C/.x", RootId(2)), "C/.x~r2");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// A file name as a file system may hold one: any bytes but '/' and
    /// NUL, never empty, `.` or `..`.
    fn file_name() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(1u8..=255, 1..12),
            "[a-zA-Z0-9 ._~%-]{1,12}".prop_map(String::into_bytes),
            ".{1,8}".prop_map(String::into_bytes),
        ]
        .prop_filter("a name is one component", |n| {
            !n.contains(&b'/') && n != b"." && n != b".."
        })
    }

    fn rel_path() -> impl Strategy<Value = RelPath> {
        prop::collection::vec(file_name(), 1..5)
            .prop_map(|parts| RelPath::from_bytes(parts.join(&b'/')))
    }

    proptest! {
        #[test]
        fn a_photo_the_planner_keeps_has_a_key_every_remote_accepts(
            rel in rel_path(),
            prefix in prop::sample::select(vec!["", "p", "a/b", "/p/"]),
            root in 1i64..1000,
        ) {
            let key = object_key(prefix, "Trip", &rel);
            let tagged = disambiguated(&key, RootId(root));
            match unsyncable_reason(&rel) {
                None => {
                    prop_assert!(syncroll_remote::validate_key(&key).is_ok(), "{:?}", key);
                    prop_assert!(syncroll_remote::validate_key(&tagged).is_ok(), "{:?}", tagged);
                }
                Some(_) => prop_assert!(syncroll_remote::validate_key(&key).is_err(), "{:?}", key),
            }
        }

    }
}
