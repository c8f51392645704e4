//! What an S3-compatible remote needs to know, and the checks that turn a
//! typo into an error naming the bad value before any request is sent.

use std::fmt;
use std::ops::RangeInclusive;

use crate::{RemoteError, validate_key};

const MIB: u64 = 1 << 20;
/// S3's smallest part size (all parts but the last).
const MIN_PART_BYTES: u64 = 5 * MIB;
/// S3's largest part, and its largest single PUT.
const MAX_PUT_BYTES: u64 = 5 * 1024 * MIB;
/// The part sizes S3 accepts.
pub(super) const PART_BYTES: RangeInclusive<u64> = MIN_PART_BYTES..=MAX_PUT_BYTES;

/// The settings of an S3-compatible remote (AWS S3, MinIO, Garage, Ceph RGW).
/// Requests use path-style addressing (`<endpoint>/<bucket>/<key>`), which
/// self-hosted servers need and AWS still accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// The server's base URL, `http://` or `https://`, e.g.
    /// `http://127.0.0.1:9000`.
    pub endpoint: String,
    /// The bucket, which must already exist; syncroll never creates it.
    pub bucket: String,
    /// The region requests are signed for; `us-east-1` suits most
    /// self-hosted servers.
    pub region: String,
    /// Keys go under `<prefix>/` in the bucket; empty for the bucket's top.
    pub prefix: String,
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key; never printed.
    pub secret_access_key: Secret,
    /// Allows a plain `http://` endpoint (a server on the LAN or loopback).
    pub allow_http: bool,
    /// Files up to this many bytes go up in one PUT, held in memory while
    /// sent; larger ones as a multipart upload.
    pub multipart_threshold: u64,
    /// Bytes per multipart part, at least 5 MiB (S3's minimum). Up to four
    /// parts are in flight at once and two more are read ahead, so a large
    /// upload holds about six parts in memory.
    pub part_size: u64,
}

impl Default for S3Settings {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            bucket: String::new(),
            region: "us-east-1".to_owned(),
            prefix: String::new(),
            access_key_id: String::new(),
            secret_access_key: Secret::default(),
            allow_http: false,
            multipart_threshold: 16 * MIB,
            part_size: 8 * MIB,
        }
    }
}

/// A secret (an S3 secret access key). `Debug` and `Display` print `***`, so
/// it cannot leak into logs, status output or error messages; only
/// [`Secret::expose`] gives the value, to whatever must send it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the code that signs requests with it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

// Hand-written rather than derived: users paste logs and `Debug` output into
// bug reports.
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Settings that passed [`check`], normalised: the endpoint without a
/// trailing '/', the prefix without one.
#[derive(Debug, Clone)]
pub(super) struct Checked {
    pub endpoint: String,
    pub prefix: String,
}

/// Checks every field of `settings`; the first bad one is reported by name.
pub(super) fn check(settings: &S3Settings) -> Result<Checked, RemoteError> {
    let endpoint = check_endpoint(&settings.endpoint, settings.allow_http)?;
    check_bucket(&settings.bucket)?;
    check_region(&settings.region)?;
    let prefix = check_prefix(&settings.prefix)?;
    if settings.access_key_id.trim().is_empty() {
        return invalid("access_key_id", &settings.access_key_id, "it is empty");
    }
    if settings.secret_access_key.expose().is_empty() {
        return invalid("secret_access_key", "***", "it is empty");
    }
    check_sizes(settings)?;
    Ok(Checked { endpoint, prefix })
}

fn invalid<T>(field: &'static str, value: &str, reason: &'static str) -> Result<T, RemoteError> {
    Err(RemoteError::InvalidSettings {
        field,
        value: value.to_owned(),
        reason,
    })
}

fn check_endpoint(endpoint: &str, allow_http: bool) -> Result<String, RemoteError> {
    let bad = |reason| invalid("endpoint", endpoint, reason);
    let Ok(url) = url::Url::parse(endpoint) else {
        return bad("it is not a URL such as https://s3.example.com or http://127.0.0.1:9000");
    };
    if url.password().is_some() || !url.username().is_empty() {
        // The value may hold a password: name the field, not the value.
        return invalid(
            "endpoint",
            "***",
            "it contains a user name or password; put credentials in access_key_id and secret_access_key",
        );
    }
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return bad("it is plain http; set allow_http to use it unencrypted"),
        _ => return bad("it must start with http:// or https://"),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return bad("it names no host");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return bad("it must not have a query (?) or fragment (#)");
    }
    Ok(endpoint.trim_end_matches('/').to_owned())
}

/// S3's bucket naming rules, as enforced by AWS and followed by self-hosted
/// servers for path-style requests.
fn check_bucket(bucket: &str) -> Result<(), RemoteError> {
    let bad = |reason| invalid("bucket", bucket, reason);
    if !(3..=63).contains(&bucket.len()) {
        return bad("a bucket name has 3 to 63 characters");
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
    if !bucket.chars().all(allowed) {
        return bad("a bucket name has only lowercase letters, digits, '.' and '-'");
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(bucket.chars().next()) || !alnum(bucket.chars().last()) {
        return bad("a bucket name starts and ends with a letter or digit");
    }
    if bucket.contains("..") {
        return bad("a bucket name has no two adjacent periods");
    }
    if bucket.parse::<std::net::Ipv4Addr>().is_ok() {
        return bad("a bucket name must not look like an IP address");
    }
    Ok(())
}

fn check_region(region: &str) -> Result<(), RemoteError> {
    if region.is_empty() {
        return invalid(
            "region",
            region,
            "it is empty; most servers accept us-east-1",
        );
    }
    if region.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("region", region, "it contains blanks or control characters");
    }
    Ok(())
}

/// Empty, or a valid key with at most one trailing '/' (dropped).
fn check_prefix(prefix: &str) -> Result<String, RemoteError> {
    let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    if trimmed.is_empty() && prefix.is_empty() {
        return Ok(String::new());
    }
    match validate_key(trimmed) {
        Ok(()) => Ok(trimmed.to_owned()),
        Err(RemoteError::InvalidKey { reason, .. }) => invalid("prefix", prefix, reason),
        Err(other) => Err(other),
    }
}

fn check_sizes(settings: &S3Settings) -> Result<(), RemoteError> {
    let part = settings.part_size;
    if part < MIN_PART_BYTES {
        return invalid(
            "part_size",
            &part.to_string(),
            "S3 needs parts of at least 5 MiB (5242880 bytes)",
        );
    }
    if part > MAX_PUT_BYTES {
        return invalid(
            "part_size",
            &part.to_string(),
            "S3 takes parts of at most 5 GiB (5368709120 bytes)",
        );
    }
    if settings.multipart_threshold > MAX_PUT_BYTES {
        return invalid(
            "multipart_threshold",
            &settings.multipart_threshold.to_string(),
            "S3 takes single uploads of at most 5 GiB (5368709120 bytes)",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> S3Settings {
        S3Settings {
            endpoint: "http://127.0.0.1:9000".into(),
            bucket: "photos".into(),
            access_key_id: "AKID".into(),
            secret_access_key: Secret::new("sekrit-value"),
            allow_http: true,
            ..S3Settings::default()
        }
    }

    fn rejected_field(settings: &S3Settings) -> (&'static str, String) {
        match check(settings) {
            Err(RemoteError::InvalidSettings { field, value, .. }) => (field, value),
            other => panic!("expected invalid settings, got {other:?}"),
        }
    }

    #[test]
    fn defaults_follow_the_documented_values() {
        let d = S3Settings::default();
        assert_eq!(d.region, "us-east-1");
        assert_eq!(d.multipart_threshold, 16 * MIB);
        assert_eq!(d.part_size, 8 * MIB);
        assert!(!d.allow_http);
    }

    #[test]
    fn good_settings_are_normalised() {
        let mut s = settings();
        s.endpoint = "http://127.0.0.1:9000/".into();
        s.prefix = "Photos/2024/".into();
        let checked = check(&s).expect("valid settings");
        assert_eq!(checked.endpoint, "http://127.0.0.1:9000");
        assert_eq!(checked.prefix, "Photos/2024");
    }

    #[test]
    fn bucket_names_follow_the_s3_rules() {
        for good in ["abc", "my-photos", "photos.2024", "a1b", &"a".repeat(63)] {
            let mut s = settings();
            s.bucket = good.to_owned();
            assert!(check(&s).is_ok(), "{good:?} should be accepted");
        }
        let too_long = "a".repeat(64);
        for bad in [
            "ab",
            too_long.as_str(),
            "Photos",
            "my_photos",
            "-photos",
            "photos-",
            ".photos",
            "pho..tos",
            "192.168.1.10",
            "ph otos",
        ] {
            let mut s = settings();
            s.bucket = bad.to_owned();
            assert_eq!(rejected_field(&s), ("bucket", bad.to_owned()));
        }
    }

    #[test]
    fn endpoints_must_be_http_urls() {
        for bad in [
            "",
            "127.0.0.1:9000",
            "ftp://host",
            "http://",
            "https://host/?x=1",
        ] {
            let mut s = settings();
            s.endpoint = bad.to_owned();
            assert_eq!(rejected_field(&s), ("endpoint", bad.to_owned()), "{bad:?}");
        }
    }

    #[test]
    fn plain_http_needs_allow_http() {
        let mut s = settings();
        s.allow_http = false;
        assert_eq!(rejected_field(&s).0, "endpoint");
        s.endpoint = "https://s3.example.com".into();
        assert!(check(&s).is_ok());
    }

    #[test]
    fn credentials_in_the_endpoint_are_refused_without_echoing_them() {
        let mut s = settings();
        s.endpoint = "http://user:hunter2@127.0.0.1:9000".into();
        let err = check(&s).expect_err("userinfo in the endpoint");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert_eq!(rejected_field(&s).0, "endpoint");
    }

    #[test]
    fn bad_prefixes_region_sizes_and_credentials_are_named() {
        type Spoil = fn(&mut S3Settings);
        let cases: [(&str, Spoil); 7] = [
            ("prefix", |s| s.prefix = "/abs".into()),
            ("prefix", |s| s.prefix = "a//b".into()),
            ("region", |s| s.region = String::new()),
            ("part_size", |s| s.part_size = MIB),
            ("multipart_threshold", |s| {
                s.multipart_threshold = 6 * 1024 * MIB;
            }),
            ("access_key_id", |s| s.access_key_id = String::new()),
            ("secret_access_key", |s| {
                s.secret_access_key = Secret::default();
            }),
        ];
        for (field, spoil) in cases {
            let mut s = settings();
            spoil(&mut s);
            assert_eq!(rejected_field(&s).0, field);
        }
    }

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let s = settings();
        let debug = format!("{s:?} {:?}", s.secret_access_key);
        assert!(!debug.contains("sekrit-value"), "{debug}");
        assert!(debug.contains("***"), "{debug}");
        assert_eq!(s.secret_access_key.to_string(), "***");
        assert_eq!(s.secret_access_key.expose(), "sekrit-value");
    }
}
