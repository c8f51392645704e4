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
    fn collisions_get_a_root_tag_before_the_extension() {
        assert_eq!(disambiguated("C/2024/a.jpg", RootId(3)), "C/2024/a~r3.jpg");
        assert_eq!(disambiguated("C/noext", RootId(2)), "C/noext~r2");
        assert_eq!(disambiguated("C/.x", RootId(2)), "C/.x~r2");
    }
}
