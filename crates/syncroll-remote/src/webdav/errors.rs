//! Turning failed WebDAV requests into [`RemoteError`]s.
//!
//! | what the server or network did | [`RemoteError`] | transient? |
//! |---|---|---|
//! | cannot connect: refused, DNS, TLS handshake | `Unavailable` | yes |
//! | timeout, connection reset or closed mid-request | `Io` | yes |
//! | 5xx, 429, 408, 423 Locked, 409 Conflict (a folder on the way is missing) | `Io` | yes |
//! | 507 Insufficient Storage | `NoSpace` | yes |
//! | 401 (user or password refused), 403 | `PermissionDenied` | no |
//! | 404 | `head`: `None`; `delete`: `Ok`; `copy`, `read`: `NotFound` | no |
//! | 412 (a conditional request refused) | `PreconditionFailed` | no |
//! | 409 creating the first folder (the URL's folder is missing) | `Unavailable` | yes |
//! | 3xx, other 4xx | `Io` (invalid input) | no |

use std::io;
use std::time::Duration;

use reqwest::StatusCode;

use crate::RemoteError;

/// Where requests go, to name it in messages.
#[derive(Debug, Clone, Copy)]
pub(super) struct Target<'a> {
    pub url: &'a str,
}

impl Target<'_> {
    /// A transport failure (no reply at all).
    pub fn transport(&self, action: &'static str, key: &str, err: &reqwest::Error) -> RemoteError {
        if err.is_connect() {
            return RemoteError::Unavailable {
                detail: format!("cannot connect to {} ({})", self.url, chain(err)),
            };
        }
        let kind = if err.is_timeout() {
            io::ErrorKind::TimedOut
        } else {
            io::ErrorKind::ConnectionReset
        };
        RemoteError::Io {
            action,
            key: key.to_owned(),
            source: io::Error::new(kind, chain(err)),
        }
    }

    /// A reply that is not success: [`Target::status`], except that a 429 or
    /// 503 with a `Retry-After` the server set becomes
    /// [`RemoteError::Busy`].
    pub fn response(
        &self,
        action: &'static str,
        key: &str,
        response: &reqwest::Response,
    ) -> RemoteError {
        let status = response.status();
        if matches!(status.as_u16(), 429 | 503)
            && let Some(wait) = retry_after(response.headers())
        {
            return RemoteError::Busy {
                detail: format!("{status} from the WebDAV server for {key:?}"),
                retry_after: wait,
            };
        }
        self.status(action, key, status)
    }

    /// A reply with a status that is not success.
    pub fn status(&self, action: &'static str, key: &str, status: StatusCode) -> RemoteError {
        let io_error = |kind| RemoteError::Io {
            action,
            key: key.to_owned(),
            source: io::Error::new(kind, format!("the WebDAV server answered {status}")),
        };
        match status.as_u16() {
            401 => RemoteError::PermissionDenied {
                key: key.to_owned(),
                detail: "the WebDAV server refused the user name or password (401); check the remote's --user and password".to_owned(),
            },
            403 => RemoteError::PermissionDenied {
                key: key.to_owned(),
                detail: "the WebDAV server forbids this (403); check that the user may write to the folder".to_owned(),
            },
            404 => RemoteError::NotFound {
                key: key.to_owned(),
            },
            507 => RemoteError::NoSpace {
                key: key.to_owned(),
            },
            // Only conditional requests are refused so: If-Match, If, or a
            // MOVE with `Overwrite: F` onto an existing object.
            412 => RemoteError::PreconditionFailed {
                key: key.to_owned(),
                detail: "the WebDAV server refused the conditional request (412)".to_owned(),
            },
            408 => io_error(io::ErrorKind::TimedOut),
            501 => io_error(io::ErrorKind::Unsupported),
            // 423 Locked: another client holds a lock on the file for now.
            // 409 Conflict: a folder on the way is missing (RFC 4918); the
            // caller makes it again.
            409 => io_error(io::ErrorKind::NotFound),
            423 | 429 | 500..=599 => io_error(io::ErrorKind::Other),
            _ => io_error(io::ErrorKind::InvalidInput),
        }
    }

    /// A failure of the `object_store` HTTP client (listing).
    pub fn listing(&self, prefix: &str, err: object_store::Error) -> RemoteError {
        use object_store::Error as E;
        let text = err.to_string();
        match err {
            E::NotFound { .. } => RemoteError::NotFound {
                key: prefix.to_owned(),
            },
            E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
                self.status("list", prefix, StatusCode::UNAUTHORIZED)
            }
            _ => {
                let connect =
                    std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
                        .filter_map(|e| e.downcast_ref::<object_store::client::HttpError>())
                        .any(|e| e.kind() == object_store::client::HttpErrorKind::Connect);
                if connect {
                    return RemoteError::Unavailable {
                        detail: format!("cannot connect to {} ({text})", self.url),
                    };
                }
                RemoteError::Io {
                    action: "list",
                    key: prefix.to_owned(),
                    source: io::Error::other(text),
                }
            }
        }
    }
}

/// `Retry-After`: delay-seconds, or an HTTP date (a date in the past is no
/// wait at all).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// The error and its causes in one line (reqwest's own message is often
/// just "error sending request").
fn chain(err: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut next: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = next {
        let part = e.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        next = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(120)));
        let soon = std::time::SystemTime::now() + Duration::from_secs(90);
        headers.insert(
            reqwest::header::RETRY_AFTER,
            httpdate::fmt_http_date(soon).parse().unwrap(),
        );
        let wait = retry_after(&headers).unwrap();
        assert!(
            wait > Duration::from_secs(80) && wait <= Duration::from_secs(90),
            "{wait:?}"
        );
        headers.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn statuses_are_classified_as_documented() {
        let target = Target {
            url: "http://h/dav/",
        };
        let transient = |code: u16| {
            target
                .status("upload", "k", StatusCode::from_u16(code).unwrap())
                .is_transient()
        };
        for code in [408, 423, 429, 500, 502, 503, 504, 507] {
            assert!(transient(code), "{code}");
        }
        for code in [301, 400, 401, 403, 404, 405, 412, 501] {
            assert!(code != 409);
            assert!(!transient(code), "{code}");
        }
        assert!(matches!(
            target.status("upload", "k", StatusCode::UNAUTHORIZED),
            RemoteError::PermissionDenied { .. }
        ));
    }
}
