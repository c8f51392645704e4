//! Turning `object_store` errors into [`RemoteError`]s, so the job state
//! machine can tell an unreachable server (wait) from a refused credential
//! (tell the user) without knowing anything about HTTP.
//!
//! `object_store` keeps the HTTP status of a failed request in a type it does
//! not export (`RetryError`): only 401, 403, 404, 304, 409 and 412 become
//! distinct `object_store::Error` variants, everything else (5xx, 429, other
//! 4xx) is `Error::Generic`. What it does export is `HttpError`, reachable
//! through `source()`, whose kind tells connection failures and timeouts
//! apart. So the order is: the S3 error codes that change what a status
//! means (`NoSuchBucket` is a 404 like a missing key), then the variants, then
//! `HttpError`'s kind, and last the status code as printed in the error's
//! text (`... status code: 503 Service Unavailable: <Error><Code>SlowDown
//! </Code>...`). The text is the part that depends on wording: the unit tests
//! below pin object_store 0.14's wording, and `tests/it/s3.rs` checks the
//! codes against a real server.

use std::error::Error as StdError;
use std::io;

use object_store::client::{HttpError, HttpErrorKind};

use crate::RemoteError;

/// Where a request went: enough to name the server and the bucket in
/// messages.
#[derive(Debug, Clone, Copy)]
pub(super) struct Target<'a> {
    pub endpoint: &'a str,
    pub bucket: &'a str,
}

impl Target<'_> {
    /// Classifies `err`, met while doing `action` (a verb such as "upload")
    /// on `key`. A 404 becomes [`RemoteError::NotFound`] for `key`; callers
    /// for which "not there" is fine (head, delete) match on it.
    pub fn error(&self, action: &'static str, key: &str, err: object_store::Error) -> RemoteError {
        let text = chain_text(&err);
        // Before anything else: a missing bucket is a 404 like a missing key
        // (only the XML body tells them apart), and Ceph's 403 QuotaExceeded
        // is about space, not permissions.
        match s3_code(&text) {
            Some("NoSuchBucket") => {
                return RemoteError::BucketMissing {
                    bucket: self.bucket.to_owned(),
                };
            }
            Some("QuotaExceeded" | "XMinioStorageFull") => {
                return RemoteError::NoSpace {
                    key: key.to_owned(),
                };
            }
            _ if http_status(&text) == Some(507) => {
                return RemoteError::NoSpace {
                    key: key.to_owned(),
                };
            }
            _ => {}
        }
        let io_error = |kind| RemoteError::Io {
            action,
            key: key.to_owned(),
            source: io::Error::new(kind, err_box(&text)),
        };
        use object_store::Error as E;
        match &err {
            E::NotFound { .. } => RemoteError::NotFound {
                key: key.to_owned(),
            },
            // A conditional request (If-Match, If-None-Match) refused: 412.
            E::Precondition { .. } | E::AlreadyExists { .. } => RemoteError::PreconditionFailed {
                key: key.to_owned(),
                detail: "the server refused the conditional request".to_owned(),
            },
            E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
                RemoteError::PermissionDenied {
                    key: key.to_owned(),
                    detail: refusal_detail(&text),
                }
            }
            E::NotSupported { .. } | E::NotImplemented { .. } => {
                io_error(io::ErrorKind::Unsupported)
            }
            // A key that object_store cannot represent, met in a listing:
            // it repeats until someone renames the object.
            E::InvalidPath { .. } => io_error(io::ErrorKind::InvalidData),
            _ => match http_error_kind(&err) {
                Some(HttpErrorKind::Connect) => RemoteError::Unavailable {
                    detail: format!("cannot connect to {} ({text})", self.endpoint),
                },
                Some(kind) => io_error(transport_io_kind(kind)),
                None => io_error(status_io_kind(&text)),
            },
        }
    }
}

/// The wording for a 401 or 403, with S3's error code when the reply had a
/// body (HEAD replies have none).
fn refusal_detail(text: &str) -> String {
    let code = s3_code(text).map(|c| format!(" ({c})")).unwrap_or_default();
    format!(
        "the S3 credentials or the bucket policy refused access{code}; check the remote's access key, secret and the bucket's policy"
    )
}

/// Connection-level failures: all worth retrying, none of them a refusal.
fn transport_io_kind(kind: HttpErrorKind) -> io::ErrorKind {
    match kind {
        HttpErrorKind::Timeout => io::ErrorKind::TimedOut,
        HttpErrorKind::Interrupted => io::ErrorKind::ConnectionReset,
        HttpErrorKind::Request => io::ErrorKind::ConnectionAborted,
        _ => io::ErrorKind::Other,
    }
}

/// Classifies by the status and S3 error code in the error's text (see the
/// module comment). The io kinds chosen make [`RemoteError::is_transient`]
/// answer as intended: retry on 5xx, 429, 409, 408 and S3's `RequestTimeout`;
/// give up on other 4xx and on redirects (a wrong region or endpoint).
fn status_io_kind(text: &str) -> io::ErrorKind {
    if s3_code(text) == Some("RequestTimeout") {
        return io::ErrorKind::TimedOut;
    }
    if text.contains("Received redirect without LOCATION") {
        return io::ErrorKind::InvalidInput;
    }
    match http_status(text) {
        Some(408) => io::ErrorKind::TimedOut,
        Some(501) => io::ErrorKind::Unsupported,
        // 409 is S3's OperationAborted: a concurrent operation on the key.
        Some(409 | 429 | 500..=599) => io::ErrorKind::Other,
        Some(300..=499) => io::ErrorKind::InvalidInput,
        // No reply at all to go by (a malformed response, an error of
        // object_store's own): assume a passing fault.
        _ => io::ErrorKind::Other,
    }
}

/// The kind of the first `HttpError` in `err`'s source chain.
fn http_error_kind(err: &object_store::Error) -> Option<HttpErrorKind> {
    sources(err).find_map(|e| e.downcast_ref::<HttpError>().map(HttpError::kind))
}

/// The status code object_store printed: "status code: 503 Service
/// Unavailable" (retry.rs, `RequestError::Status`).
fn http_status(text: &str) -> Option<u16> {
    const MARK: &str = "status code: ";
    let at = text.find(MARK)? + MARK.len();
    text.get(at..at + 3)?.parse().ok()
}

/// S3's error code from an XML error body: `<Code>SlowDown</Code>`.
fn s3_code(text: &str) -> Option<&str> {
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    Some(&text[start..start + len])
}

fn sources<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e| e.source())
}

/// The error and its causes in one line: object_store's own message often
/// stops at "Generic S3 error" and leaves the useful part to its sources.
fn chain_text(err: &object_store::Error) -> String {
    let mut text = String::new();
    for e in sources(err) {
        let part = e.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text
}

/// The text as an error for [`io::Error::new`]: object_store's types stay
/// inside this crate.
fn err_box(text: &str) -> Box<dyn StdError + Send + Sync> {
    text.to_owned().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(text: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: text.to_owned().into(),
        }
    }

    fn classify(err: object_store::Error) -> RemoteError {
        let target = Target {
            endpoint: "http://127.0.0.1:9000",
            bucket: "photos",
        };
        target.error("upload", "a/b.jpg", err)
    }

    #[test]
    fn statuses_in_the_text_classify_as_documented() {
        let cases = [
            ("503 Service Unavailable", true),
            ("500 Internal Server Error", true),
            ("429 Too Many Requests", true),
            ("409 Conflict", true),
            ("408 Request Timeout", true),
            (
                "400 Bad Request: <Error><Code>RequestTimeout</Code></Error>",
                true,
            ),
            (
                "400 Bad Request: <Error><Code>EntityTooSmall</Code></Error>",
                false,
            ),
            ("405 Method Not Allowed", false),
            ("501 Not Implemented", false),
            ("301 Moved Permanently", false),
        ];
        for (status, transient) in cases {
            let err = classify(generic(&format!(
                "Error performing PUT in 1ms - Server returned non-2xx status code: {status}"
            )));
            assert!(matches!(err, RemoteError::Io { .. }), "{status}: {err:?}");
            assert_eq!(err.is_transient(), transient, "{status}: {err}");
        }
    }

    #[test]
    fn a_missing_bucket_is_told_from_a_missing_key() {
        let body = "Server returned non-2xx status code: 404 Not Found: <Error><Code>NoSuchBucket</Code></Error>";
        let missing_bucket = object_store::Error::NotFound {
            path: "a/b.jpg".into(),
            source: body.into(),
        };
        let err = classify(missing_bucket);
        assert!(
            matches!(&err, RemoteError::BucketMissing { bucket } if bucket == "photos"),
            "{err:?}"
        );
        assert!(!err.is_transient());
        let missing_key = object_store::Error::NotFound {
            path: "a/b.jpg".into(),
            source: "404 Not Found".into(),
        };
        assert!(matches!(
            classify(missing_key),
            RemoteError::NotFound { .. }
        ));
    }

    #[test]
    fn refusals_are_permanent_and_name_the_s3_code() {
        let err = classify(object_store::Error::PermissionDenied {
            path: "a/b.jpg".into(),
            source: "403 Forbidden: <Error><Code>SignatureDoesNotMatch</Code></Error>".into(),
        });
        assert!(
            matches!(err, RemoteError::PermissionDenied { .. }),
            "{err:?}"
        );
        assert!(!err.is_transient());
        let msg = err.to_string();
        assert!(msg.contains("credentials or the bucket policy"), "{msg}");
        assert!(msg.contains("SignatureDoesNotMatch"), "{msg}");
    }

    #[test]
    fn a_key_named_like_an_s3_code_does_not_fool_the_mapping() {
        let err = classify(object_store::Error::NotFound {
            path: "NoSuchBucket.jpg".into(),
            source: "Error performing GET http://h/photos/NoSuchBucket.jpg - 404 Not Found".into(),
        });
        assert!(matches!(err, RemoteError::NotFound { .. }), "{err:?}");
    }

    #[test]
    fn a_full_quota_is_no_space_not_a_refusal() {
        let err = classify(object_store::Error::PermissionDenied {
            path: "a/b.jpg".into(),
            source: "403 Forbidden: <Error><Code>QuotaExceeded</Code></Error>".into(),
        });
        assert!(matches!(err, RemoteError::NoSpace { .. }), "{err:?}");
        assert!(err.is_transient());
    }

    #[test]
    fn transport_failures_are_transient_and_connect_failures_unavailable() {
        let connect = object_store::Error::Generic {
            store: "S3",
            source: Box::new(HttpError::new(
                HttpErrorKind::Connect,
                io::Error::from(io::ErrorKind::ConnectionRefused),
            )),
        };
        let err = classify(connect);
        assert!(matches!(err, RemoteError::Unavailable { .. }), "{err:?}");
        assert!(err.is_transient());
        for kind in [
            HttpErrorKind::Timeout,
            HttpErrorKind::Interrupted,
            HttpErrorKind::Request,
            HttpErrorKind::Decode,
            HttpErrorKind::Unknown,
        ] {
            let err = classify(object_store::Error::Generic {
                store: "S3",
                source: Box::new(HttpError::new(kind, io::Error::other("x"))),
            });
            assert!(matches!(err, RemoteError::Io { .. }), "{kind:?}: {err:?}");
            assert!(err.is_transient(), "{kind:?}");
        }
    }
}
