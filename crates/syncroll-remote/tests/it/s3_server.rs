//! The remote-side view of the test S3 server: settings and a backend
//! pointed at it.

use syncroll_remote::{S3Remote, S3Settings, Secret};
pub use syncroll_testkit::{S3Server, Seen};

pub const BUCKET: &str = S3Server::BUCKET;

/// Settings for `server`, its bucket and `prefix`.
pub fn settings(server: &S3Server, prefix: &str) -> S3Settings {
    S3Settings {
        endpoint: server.endpoint_str().to_owned(),
        bucket: BUCKET.to_owned(),
        prefix: prefix.to_owned(),
        access_key_id: S3Server::ACCESS_KEY.to_owned(),
        secret_access_key: Secret::new(S3Server::SECRET_KEY),
        allow_http: true,
        ..S3Settings::default()
    }
}

/// A backend for `server` under `prefix`.
pub fn remote(server: &S3Server, prefix: &str) -> S3Remote {
    S3Remote::new(settings(server, prefix)).expect("valid settings")
}
