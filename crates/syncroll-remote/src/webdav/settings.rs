//! What a WebDAV remote needs to know, checked before any request.

use url::Url;

use crate::{RemoteError, Secret};

/// How to reach a folder on a WebDAV server (Nextcloud, ownCloud, Apache
/// `mod_dav`, nginx, `rclone serve webdav`, ...).
#[derive(Debug, Clone, Default)]
pub struct WebDavSettings {
    /// The folder's URL, `http://` or `https://`, e.g.
    /// `https://cloud.example.com/remote.php/dav/files/alice/Photos`. The
    /// folder must exist: syncroll creates folders below it, never it.
    pub url: String,
    /// User name for HTTP Basic authentication; empty for none.
    pub user: String,
    /// The password (a Nextcloud app password, say); empty for none.
    pub password: Secret,
    /// Whether a plain `http://` URL is accepted.
    pub allow_http: bool,
    /// Whether the server changes a folder's ETag whenever anything below
    /// it changes (Nextcloud's "ETag propagation"): only then may
    /// [`Remote::list_changed`](crate::Remote::list_changed) skip a folder
    /// whose tag it knows. Servers that tag a folder by its own mtime
    /// (rclone, Apache, dav-server's `LocalFs`) do not: a file changed two
    /// folders down leaves the top's tag as it was.
    pub folder_etags: bool,
}

/// The URL, normalised to end with '/' so keys join below it.
pub(super) fn check(settings: &WebDavSettings) -> Result<Url, RemoteError> {
    let raw = settings.url.as_str();
    // Echoed in errors, so never with what may be a password (user info)
    // or a token (a query).
    let shown = if raw.contains('@') {
        "***".to_owned()
    } else {
        raw.split(['?', '#']).next().unwrap_or_default().to_owned()
    };
    let bad = |reason| invalid("url", &shown, reason);
    let Ok(mut url) = Url::parse(raw) else {
        return bad(
            "it is not a URL such as https://cloud.example.com/remote.php/dav/files/alice/",
        );
    };
    if url.password().is_some() || !url.username().is_empty() {
        // The value may hold a password: name the field, not the value.
        return invalid(
            "url",
            "***",
            "it contains a user name or password; give the user with --user and the password with --password-env",
        );
    }
    match url.scheme() {
        "https" => {}
        "http" if settings.allow_http => {}
        "http" => return bad("it is plain http; allow http to use it unencrypted"),
        _ => return bad("it must start with http:// or https://"),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return bad("it names no host");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return bad("it must not have a query (?) or fragment (#)");
    }
    if settings.user.contains(':') {
        return invalid(
            "user",
            &settings.user,
            "HTTP Basic authentication forbids ':' in a user name",
        );
    }
    if settings.user.is_empty() != settings.password.expose().is_empty() {
        return invalid(
            "user",
            &settings.user,
            "give both a user and a password, or neither",
        );
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn invalid<T>(field: &'static str, value: &str, reason: &'static str) -> Result<T, RemoteError> {
    Err(RemoteError::InvalidSettings {
        field,
        value: value.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> WebDavSettings {
        WebDavSettings {
            url: url.to_owned(),
            allow_http: true,
            ..Default::default()
        }
    }

    fn field_of(result: Result<Url, RemoteError>) -> (&'static str, String) {
        match result {
            Err(RemoteError::InvalidSettings { field, value, .. }) => (field, value),
            other => panic!("expected invalid settings, got {other:?}"),
        }
    }

    #[test]
    fn the_url_gains_a_trailing_slash() {
        let url = check(&settings("http://127.0.0.1:8080/dav/photos")).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/dav/photos/");
        let url = check(&settings("https://h.example/")).unwrap();
        assert_eq!(url.as_str(), "https://h.example/");
    }

    #[test]
    fn bad_urls_are_named() {
        for bad in ["not a url", "ftp://h/x"] {
            assert_eq!(field_of(check(&settings(bad))), ("url", bad.to_owned()));
        }
        // A query may hold a token: it is not echoed.
        for bad in ["http://h/x?token=s3cr3t", "http://h/x#f"] {
            assert_eq!(
                field_of(check(&settings(bad))),
                ("url", "http://h/x".to_owned())
            );
        }
        // Nor what may be a password, even in a URL that does not parse.
        let (_, shown) = field_of(check(&settings(
            "https://alice:hunter2@cloud example.com/x",
        )));
        assert_eq!(shown, "***");
        let plain = WebDavSettings {
            allow_http: false,
            ..settings("http://h/x")
        };
        assert_eq!(field_of(check(&plain)).0, "url");
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_echoing_it() {
        let (field, value) = field_of(check(&settings("https://alice:hunter2@h/x")));
        assert_eq!((field, value.as_str()), ("url", "***"));
    }

    #[test]
    fn user_and_password_go_together() {
        let only_user = WebDavSettings {
            user: "alice".into(),
            ..settings("https://h/x")
        };
        assert_eq!(field_of(check(&only_user)).0, "user");
        let colon = WebDavSettings {
            user: "a:b".into(),
            password: Secret::new("p"),
            ..settings("https://h/x")
        };
        assert_eq!(field_of(check(&colon)).0, "user");
    }
}
