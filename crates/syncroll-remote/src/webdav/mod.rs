//! [`WebDavRemote`]: a remote in a folder of a WebDAV server (Nextcloud,
//! ownCloud, Apache `mod_dav`, nginx, `rclone serve webdav`).
//!
//! The plain verbs (PUT, MOVE, COPY, MKCOL, DELETE, HEAD) go through
//! `reqwest` directly, because an upload must stream from disk in constant
//! memory and `object_store`'s HTTP store takes a body held in memory. The
//! one request whose reply needs parsing, PROPFIND (multistatus XML), goes
//! through `object_store`'s HTTP store, one folder at a time (`Depth: 1`;
//! Nextcloud refuses `Depth: infinity`), so a listing holds one folder's
//! entries at once, never the whole tree.
//!
//! Uploads: the file is PUT to a temporary `.<name>.syncroll-part` beside
//! its key, then MOVEd over the key (`Overwrite: T`), so the key holds either
//! the old object or the new one, never a half-written file; a HEAD then
//! checks the size. Missing folders are created with MKCOL, top down, below
//! the URL's folder, never the folder itself (like an `fs` remote's root, it
//! may be an unmounted disk on the server). A cancelled or failed upload
//! deletes its temporary.
//!
//! Reads are a GET with `Range` (and `If-Match` given the version
//! expected); a conditional upload's MOVE carries the precondition (see
//! [`Remote::put_file_if`]); polling ([`Remote::list_changed`]) reads
//! PROPFIND replies itself (`multistatus`), since folder ETags are not in
//! `object_store`'s listing.
//!
//! Limits:
//! - No resumable uploads: plain WebDAV has no standard for them (Nextcloud's
//!   chunked upload API and SabreDAV's `PATCH` are server-specific). A large
//!   upload cut off by a crash starts over; the temporary it leaves is
//!   replaced by the next attempt, never listed, and deleted through the
//!   caller's journal (`abandon_upload`) if the job ends without one.
//! - The size is checked after an upload; the content is not, because
//!   servers offer checksums only through non-standard headers
//!   (Nextcloud's `OC-Checksum`).

mod errors;
mod multistatus;
mod settings;

use std::collections::HashSet;
use std::path::Path as FsPath;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use object_store::ObjectStore;
use object_store::http::{HttpBuilder, HttpStore};
use object_store::path::Path;
use reqwest::header::{
    CONTENT_LENGTH, CONTENT_RANGE, ETAG, HeaderMap, HeaderValue, IF_MATCH, LAST_MODIFIED, RANGE,
};
use reqwest::{Method, StatusCode, Url};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::TransferBudget;
use crate::chunks::{CHUNK_BYTES, FileChunks};
use crate::key::validate_prefix;
use crate::{
    FolderTags, ListEvent, ListEventStream, ObjectMeta, ObjectRead, ObjectStream, Precondition,
    PutReport, Remote, RemoteError, Secret, validate_key,
};
use errors::Target;
pub use settings::WebDavSettings;

/// A server that accepts no connection within this is unreachable for now.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a request may take on top of sending its body.
const REQUEST_BASE_TIMEOUT: Duration = Duration::from_secs(60);
/// The slowest uplink an upload allows for (see the S3 remote).
const SLOWEST_UPLINK_BYTES_PER_SEC: u64 = 32 * 1024;
/// Listing entries fetched ahead of the consumer.
const LISTING_QUEUE: usize = 256;
/// Marks syncroll's temporaries, as on `fs` remotes.
const PART_SUFFIX: &str = ".syncroll-part";
/// The journal's state while an upload's temporary may exist.
const TEMPORARY_STATE: &str = r#"{"webdav":"temporary"}"#;

/// A remote in a WebDAV folder (kind `webdav`).
#[derive(Clone)]
pub struct WebDavRemote {
    inner: Arc<Inner>,
    /// Bounds the bytes uploads hold in memory (the chunks on their way);
    /// shared with other remotes when given with
    /// [`WebDavRemote::with_budget`].
    budget: TransferBudget,
    /// The limits uploads and downloads obey ([`WebDavRemote::with_throttle`]).
    throttle: crate::Throttle,
}

struct Inner {
    client: reqwest::Client,
    /// For PROPFIND only; see the module comment.
    listing: HttpStore,
    /// The folder, ending in '/'.
    base: Url,
    /// The folder's path on the server, decoded, without surrounding '/'.
    base_path: String,
    user: String,
    password: Secret,
    /// Folders known to exist, so each is made (or found) once.
    folders: Mutex<HashSet<String>>,
    /// The server refused an ETag in an `If` header that held (see
    /// `move_into_place`): conditional uploads no longer send one.
    if_refused: std::sync::atomic::AtomicBool,
    /// [`WebDavSettings::folder_etags`].
    folder_etags: bool,
}

// Hand-written: nothing of the client's configuration belongs in logs.
impl std::fmt::Debug for WebDavRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebDavRemote")
            .field("remote", &self.describe())
            .finish_non_exhaustive()
    }
}

impl WebDavRemote {
    /// A remote for `settings`, checked but not contacted: a server that is
    /// down now may be up later.
    pub fn new(settings: WebDavSettings) -> Result<Self, RemoteError> {
        let base = settings::check(&settings)?;
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|_| RemoteError::InvalidSettings {
                field: "url",
                value: settings.url.clone(),
                reason: "the HTTP client cannot use these settings",
            })?;
        let mut headers = HeaderMap::new();
        if !settings.user.is_empty() {
            headers.insert(
                reqwest::header::AUTHORIZATION,
                basic_auth(&settings.user, &settings.password),
            );
        }
        let options = object_store::ClientOptions::new()
            .with_allow_http(settings.allow_http)
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(REQUEST_BASE_TIMEOUT)
            .with_default_headers(headers);
        // Without the trailing '/': the HTTP store appends "/<path>".
        let listing = HttpBuilder::new()
            .with_url(base.as_str().trim_end_matches('/'))
            .with_client_options(options)
            .build()
            .map_err(|_| RemoteError::InvalidSettings {
                field: "url",
                value: settings.url.clone(),
                reason: "the HTTP client cannot use this URL",
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                listing,
                base_path: percent_encoding::percent_decode_str(base.path())
                    .decode_utf8_lossy()
                    .trim_matches('/')
                    .to_owned(),
                base,
                user: settings.user,
                password: settings.password,
                folders: Mutex::default(),
                if_refused: false.into(),
                folder_etags: settings.folder_etags,
            }),
            budget: TransferBudget::default(),
            throttle: crate::Throttle::default(),
        })
    }

    /// Uploads and downloads obey `throttle`'s limits.
    #[must_use]
    pub fn with_throttle(mut self, throttle: crate::Throttle) -> Self {
        self.throttle = throttle;
        self
    }

    /// Uploads hold their chunks within `budget`, shared with whoever else
    /// holds it (the daemon gives all its remotes one).
    #[must_use]
    pub fn with_budget(mut self, budget: TransferBudget) -> Self {
        self.budget = budget;
        self
    }

    /// The slowest uplink a request allows for: [`SLOWEST_UPLINK_BYTES_PER_SEC`],
    /// or the upload limit in force if it is lower (a limited body is
    /// sent no faster).
    fn slowest_uplink(&self) -> u64 {
        let limit = self.throttle.lowest_rate(crate::Direction::Up);
        limit.map_or(SLOWEST_UPLINK_BYTES_PER_SEC, |rate| {
            rate.clamp(1, SLOWEST_UPLINK_BYTES_PER_SEC)
        })
    }

    fn target(&self) -> Target<'_> {
        Target {
            url: self.inner.base.as_str(),
        }
    }

    /// The URL of `key` (segments percent-encoded).
    fn url(&self, key: &str) -> Url {
        let mut url = self.inner.base.clone();
        {
            let mut segments = url.path_segments_mut().expect("an http URL has a path");
            segments.pop_if_empty();
            segments.extend(key.split('/'));
        }
        url
    }

    /// The URL of a folder: with a trailing '/', as MKCOL wants.
    fn folder_url(&self, folder: &str) -> Url {
        let mut url = self.url(folder);
        url.path_segments_mut()
            .expect("an http URL has a path")
            .push("");
        url
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        let request = self.inner.client.request(method, url);
        if self.inner.user.is_empty() {
            request
        } else {
            request.basic_auth(&self.inner.user, Some(self.inner.password.expose()))
        }
    }

    /// Sends `request`; a status that is not success is an error.
    async fn send(
        &self,
        action: &'static str,
        key: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RemoteError> {
        let response = request
            .send()
            .await
            .map_err(|e| self.target().transport(action, key, &e))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self.target().response(action, key, &response))
        }
    }

    /// Makes the folders above `key` that are not known to exist, top down.
    async fn make_parents(&self, key: &str) -> Result<(), RemoteError> {
        let mut folder = String::new();
        let parents = key.split('/').collect::<Vec<_>>();
        for (depth, name) in parents[..parents.len() - 1].iter().enumerate() {
            if !folder.is_empty() {
                folder.push('/');
            }
            folder.push_str(name);
            if self.known_folder(&folder) {
                continue;
            }
            let mkcol = Method::from_bytes(b"MKCOL").expect("a valid method");
            let response = self
                .request(mkcol, self.folder_url(&folder))
                .send()
                .await
                .map_err(|e| self.target().transport("create a folder for", key, &e))?;
            match response.status() {
                // 405: the folder is already there.
                s if s.is_success() || s == StatusCode::METHOD_NOT_ALLOWED => {}
                // The folder above is missing; at the top, that is the URL's
                // own folder, which syncroll never creates.
                StatusCode::CONFLICT if depth == 0 => {
                    return Err(RemoteError::Unavailable {
                        detail: format!(
                            "the WebDAV folder {} does not exist; create it (or mount its disk on the server) and syncroll retries",
                            self.inner.base
                        ),
                    });
                }
                _ => {
                    return Err(self
                        .target()
                        .response("create a folder for", key, &response));
                }
            }
            self.inner
                .folders
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(folder.clone());
        }
        Ok(())
    }

    /// After a PUT, MOVE or COPY failed: a 404 or 409 means a folder on the
    /// way is missing (removed on the server, or the whole remote folder
    /// unmounted). The folders known to exist are forgotten, so the next
    /// attempt makes them again, and the error becomes transient (or
    /// `Unavailable`, if the remote's folder itself is gone).
    async fn folder_gone(&self, key: &str, err: RemoteError) -> RemoteError {
        let missing = matches!(err, RemoteError::NotFound { .. })
            || matches!(&err, RemoteError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound);
        if !missing {
            return err;
        }
        self.forget_folders();
        if let Err(unavailable) = self.check_folder().await {
            return unavailable;
        }
        RemoteError::Io {
            action: "upload",
            key: key.to_owned(),
            source: std::io::Error::other(
                "a folder on the way disappeared on the server; syncroll makes it again",
            ),
        }
    }

    fn known_folder(&self, folder: &str) -> bool {
        let folders = self.inner.folders.lock().unwrap_or_else(|p| p.into_inner());
        folders.contains(folder)
    }

    /// Forgets the folders known to exist (after a failure that may mean one
    /// was removed behind syncroll's back).
    fn forget_folders(&self) {
        self.inner
            .folders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// PUTs the file to `temp`, streaming; returns the size and hash sent.
    async fn put_temp(
        &self,
        key: &str,
        temp: &str,
        source: &FsPath,
        progress: &AtomicU64,
        cancel: &CancellationToken,
    ) -> Result<(u64, blake3::Hash), RemoteError> {
        let mut chunks = FileChunks::new(source.to_owned(), self.throttle.clone(), cancel.clone());
        let len = chunks.size().await?;
        let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(2);
        let reading = read_into(chunks, len, tx, &self.budget, progress, cancel);
        let body = reqwest::Body::wrap_stream(ReceiverStream::new(rx));
        let timeout = REQUEST_BASE_TIMEOUT + Duration::from_secs(len / self.slowest_uplink());
        let put = self
            .request(Method::PUT, self.url(temp))
            .header(CONTENT_LENGTH, len)
            .timeout(timeout)
            .body(body);
        let sending = async {
            tokio::select! {
                biased;
                () = cancel.cancelled() => Err(RemoteError::Cancelled),
                sent = self.send("upload", key, put) => sent.map(|_| ()),
            }
        };
        let (read, sent) = tokio::join!(reading, sending);
        // A read failure explains a failed PUT better than the PUT's error.
        let (size, hash) = read?;
        sent?;
        Ok((size, hash))
    }

    /// A PUT cut off by a cancel may still be under way on the server,
    /// which can put the part of the body it got in place after the DELETE
    /// that followed the cancel (the test server does). Looks again a few
    /// times over about six seconds, in the background so the cancel is
    /// not slowed, and deletes the temporary if it shows up.
    fn watch_cut_off_temporary(&self, temp: String) {
        const LOOKS: [Duration; 5] = [
            Duration::from_millis(200),
            Duration::from_millis(400),
            Duration::from_millis(800),
            Duration::from_millis(1600),
            Duration::from_millis(3200),
        ];
        let remote = self.clone();
        tokio::spawn(async move {
            for wait in LOOKS {
                tokio::time::sleep(wait).await;
                if let Ok(Some(_)) = remote.head_key(&temp).await {
                    tracing::debug!(temp = %temp, "a cut-off upload's temporary appeared after its delete; deleting it");
                    let _ = remote.delete_any(&temp).await;
                }
            }
        });
    }

    /// Deletes `key`, or a temporary (which the key rules reserve). A key
    /// that is not there is deleted, unless the remote's folder itself is
    /// missing (an unmounted disk behind the server): then nothing can be
    /// told about the key, and the delete waits.
    async fn delete_any(&self, key: &str) -> Result<(), RemoteError> {
        let deleting = self
            .request(Method::DELETE, self.url(key))
            .timeout(REQUEST_BASE_TIMEOUT);
        match self.send("delete", key, deleting).await {
            Ok(_) => Ok(()),
            Err(RemoteError::NotFound { .. }) => self.check_folder().await,
            Err(e) => Err(e),
        }
    }

    /// `Ok` if the remote's folder (the URL's) exists; `Unavailable` if not.
    /// Asked whenever a 404 could mean "the whole folder is gone" rather
    /// than "this key is gone", which only the first may be taken for.
    async fn check_folder(&self) -> Result<(), RemoteError> {
        let propfind = Method::from_bytes(b"PROPFIND").expect("a valid method");
        let probe = self
            .request(propfind, self.inner.base.clone())
            .header("Depth", "0")
            .timeout(REQUEST_BASE_TIMEOUT);
        match self.send("look up", "", probe).await {
            Ok(_) => Ok(()),
            Err(RemoteError::NotFound { .. }) => {
                // Whatever was known about folders below it is void.
                self.forget_folders();
                Err(RemoteError::Unavailable {
                    detail: format!(
                        "the WebDAV folder {} does not exist; create it (or mount its disk on the server) and syncroll retries",
                        self.inner.base
                    ),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// MOVEs the uploaded temporary over `key`, if `precondition` holds.
    /// Not raced against cancellation: a MOVE the server has begun may take
    /// effect whether or not anyone waits.
    async fn move_into_place(
        &self,
        key: &str,
        temp: &str,
        precondition: &Precondition,
    ) -> Result<(), RemoteError> {
        if *precondition != Precondition::None {
            let found = self.head_key(key).await?;
            precondition.check(key, found.as_ref())?;
        }
        let tagged = match precondition {
            Precondition::Matches {
                etag: Some(etag), ..
            } if !self.inner.if_refused.load(Ordering::Relaxed) => Some(etag.as_str()),
            _ => None,
        };
        let moved = self.send_move(key, temp, precondition, tagged).await;
        let Err(RemoteError::PreconditionFailed { .. }) = moved else {
            return moved;
        };
        if tagged.is_none() {
            return moved;
        }
        // Servers that read `If` for lock tokens only (golang.org/x/net/webdav,
        // and so rclone's) refuse every ETag in it. If the key still holds
        // the base, the refusal was the header's: from now on this remote
        // relies on the HEAD just before the MOVE alone.
        let found = self.head_key(key).await?;
        precondition.check(key, found.as_ref())?;
        self.inner.if_refused.store(true, Ordering::Relaxed);
        tracing::info!(remote = %self.describe(), "the WebDAV server refuses ETags in If headers; conditional uploads check with a HEAD only");
        self.send_move(key, temp, precondition, None).await
    }

    /// The MOVE of the temporary over `key`: `Overwrite: F` for
    /// [`Precondition::Absent`], and with `tagged`, an `If` header that
    /// names the key's URL with that ETag.
    async fn send_move(
        &self,
        key: &str,
        temp: &str,
        precondition: &Precondition,
        tagged: Option<&str>,
    ) -> Result<(), RemoteError> {
        let overwrite = if *precondition == Precondition::Absent {
            "F"
        } else {
            "T"
        };
        let mut moving = self
            .request(
                Method::from_bytes(b"MOVE").expect("a valid method"),
                self.url(temp),
            )
            .header("Destination", self.url(key).as_str())
            .header("Overwrite", overwrite)
            .timeout(REQUEST_BASE_TIMEOUT);
        if let Some(etag) = tagged {
            // RFC 4918 10.4: a tagged list, so the condition is on the
            // destination, not on the temporary being moved.
            moving = moving.header("If", format!("<{}> ([{}])", self.url(key), quoted(etag)));
        }
        self.send("move into place", key, moving).await.map(|_| ())
    }

    /// See [`Remote::read`].
    async fn read_key(
        &self,
        key: &str,
        offset: u64,
        expected: Option<&ObjectMeta>,
    ) -> Result<ObjectRead, RemoteError> {
        let mut get = self.request(Method::GET, self.url(key));
        if offset > 0 {
            get = get.header(RANGE, format!("bytes={offset}-"));
        }
        if let Some(etag) = expected.and_then(|e| e.etag.as_deref()) {
            get = get.header(IF_MATCH, quoted(etag));
        }
        let sent = tokio::time::timeout(REQUEST_BASE_TIMEOUT, get.send()).await;
        let response = match sent {
            Ok(sent) => sent.map_err(|e| self.target().transport("download", key, &e))?,
            Err(_) => {
                return Err(RemoteError::Io {
                    action: "download",
                    key: key.to_owned(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the WebDAV server did not answer",
                    ),
                });
            }
        };
        let status = response.status();
        let header = |name| response.headers().get(name)?.to_str().ok();
        let (offset, size) = match status {
            StatusCode::PARTIAL_CONTENT => {
                match header(CONTENT_RANGE).and_then(parse_content_range) {
                    Some(range) => range,
                    None => {
                        return Err(RemoteError::Io {
                            action: "download",
                            key: key.to_owned(),
                            source: std::io::Error::other(
                                "the WebDAV server sent part of the object without saying which",
                            ),
                        });
                    }
                }
            }
            s if s.is_success() => match response.content_length() {
                Some(size) => (0, size),
                // A chunked reply names no length: the listing's, else a HEAD's.
                None => match expected {
                    Some(expected) => (0, expected.size),
                    None => (0, self.head_key(key).await?.map_or(0, |m| m.size)),
                },
            },
            StatusCode::NOT_FOUND => {
                self.check_folder().await?;
                return Err(RemoteError::NotFound {
                    key: key.to_owned(),
                });
            }
            _ => return Err(self.target().response("download", key, &response)),
        };
        let meta = ObjectMeta {
            key: key.to_owned(),
            size,
            etag: header(ETAG).map(str::to_owned),
            modified: header(LAST_MODIFIED).and_then(|v| httpdate::parse_http_date(v).ok()),
        };
        if let Some(expected) = expected
            && !expected.same_version(&meta)
        {
            return Err(RemoteError::PreconditionFailed {
                key: key.to_owned(),
                detail: "the object was changed meanwhile".to_owned(),
            });
        }
        let (target, owned_key) = (self.clone(), key.to_owned());
        let body = response.bytes_stream().map(move |chunk| {
            chunk.map_err(|e| target.target().transport("download", &owned_key, &e))
        });
        Ok(ObjectRead {
            meta,
            offset,
            md5: None,
            body: Box::pin(body),
        })
    }

    /// HEAD of `key`.
    async fn head_key(&self, key: &str) -> Result<Option<ObjectMeta>, RemoteError> {
        let response = self
            .request(Method::HEAD, self.url(key))
            .send()
            .await
            .map_err(|e| self.target().transport("look up", key, &e))?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let header = |name| response.headers().get(name)?.to_str().ok();
                let size = header(CONTENT_LENGTH)
                    .and_then(|v| v.parse().ok())
                    .or(response.content_length())
                    .unwrap_or(0);
                Ok(Some(ObjectMeta {
                    key: key.to_owned(),
                    size,
                    etag: header(ETAG).map(str::to_owned),
                    modified: header(LAST_MODIFIED).and_then(|v| httpdate::parse_http_date(v).ok()),
                }))
            }
            _ => Err(self.target().response("look up", key, &response)),
        }
    }

    /// Sends every object under `prefix` to `tx`, one folder at a time.
    async fn walk(
        &self,
        prefix: &str,
        tx: &mpsc::Sender<Result<ObjectMeta, RemoteError>>,
    ) -> Result<(), RemoteError> {
        validate_prefix(prefix)?;
        // The HTTP store lists a missing folder as empty: a listing of a
        // vanished remote must fail, not say that everything is gone.
        self.check_folder().await?;
        let start = prefix.trim_end_matches('/');
        let mut folders = vec![start.to_owned()];
        while let Some(folder) = folders.pop() {
            let path = if folder.is_empty() {
                None
            } else {
                Some(Path::parse(&folder).map_err(|_| RemoteError::InvalidKey {
                    key: folder.clone(),
                    reason: "the WebDAV client cannot represent it",
                })?)
            };
            let listed = match self.inner.listing.list_with_delimiter(path.as_ref()).await {
                Ok(listed) => listed,
                // A folder removed while walking, or a prefix never made.
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(self.target().listing(prefix, e)),
            };
            for sub in listed.common_prefixes {
                // The reply names the folder itself too; only what is below
                // it is walked (anything else would loop).
                match self.relative(sub.as_ref()) {
                    Some(sub) if sub.len() > folder.len() && sub.starts_with(folder.as_str()) => {
                        folders.push(sub.to_owned());
                    }
                    _ => {}
                }
            }
            for object in listed.objects {
                let Some(key) = self.relative(object.location.as_ref()) else {
                    continue;
                };
                let key = key.to_owned();
                let name = key.rsplit('/').next().unwrap_or(&key);
                if name.ends_with(PART_SUFFIX) || validate_key(&key).is_err() {
                    continue;
                }
                let meta = ObjectMeta {
                    key,
                    size: object.size,
                    etag: object.e_tag,
                    modified: Some(object.last_modified.into()),
                };
                if tx.send(Ok(meta)).await.is_err() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// Polling by folder ETag; see [`Remote::list_changed`].
impl WebDavRemote {
    /// PROPFIND of `folder` (relative, no surrounding '/') at `depth`;
    /// `None` if the server has no such folder.
    async fn propfind(
        &self,
        folder: &str,
        depth: &'static str,
    ) -> Result<Option<Vec<multistatus::DavEntry>>, RemoteError> {
        let url = if folder.is_empty() {
            self.inner.base.clone()
        } else {
            self.folder_url(folder)
        };
        let propfind = Method::from_bytes(b"PROPFIND").expect("a valid method");
        let request = self
            .request(propfind, url)
            .header("Depth", depth)
            .header(reqwest::header::CONTENT_TYPE, "application/xml")
            .body(multistatus::PROPFIND_BODY)
            .timeout(REQUEST_BASE_TIMEOUT);
        let response = match self.send("list", folder, request).await {
            Ok(response) => response,
            Err(RemoteError::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        let body = response
            .text()
            .await
            .map_err(|e| self.target().transport("list", folder, &e))?;
        let entries = multistatus::parse(&body).map_err(|detail| RemoteError::Io {
            action: "list",
            key: folder.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the WebDAV server's PROPFIND reply is unreadable: {detail}"),
            ),
        })?;
        Ok(Some(entries))
    }

    /// An href of a PROPFIND reply relative to the remote's folder, without
    /// surrounding '/'; `None` if outside it.
    fn href_key(&self, href: &str) -> Option<String> {
        let path = match href.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("", |at| &rest[at..]),
            None => href,
        };
        let path = path.trim_matches('/');
        let base = self.inner.base_path.as_str();
        let relative = if base.is_empty() {
            path
        } else if path == base {
            ""
        } else {
            path.strip_prefix(base)?.strip_prefix('/')?
        };
        Some(relative.to_owned())
    }

    /// Sends the events of a poll of `prefix` to `tx`, walking only folders
    /// whose ETag differs from `known`'s.
    async fn walk_changed(
        &self,
        prefix: &str,
        known: &dyn FolderTags,
        tx: &mpsc::Sender<Result<ListEvent, RemoteError>>,
    ) -> Result<(), RemoteError> {
        validate_prefix(prefix)?;
        // A folder's tag says nothing of what is below it unless the server
        // propagates changes up (`folder_etags`): then nothing is skipped.
        let none = std::collections::HashMap::<String, String>::new();
        let known: &dyn FolderTags = if self.inner.folder_etags {
            known
        } else {
            &none
        };
        let start = prefix.trim_end_matches('/').to_owned();
        // An unchanged tree costs this one request.
        if let Some(tag) = known.tag(&start) {
            let top = self.propfind(&start, "0").await?;
            let current = top.as_ref().and_then(|e| e.first()?.etag.clone());
            if current.as_deref() == Some(tag.as_str()) {
                let _ = tx.send(Ok(ListEvent::Unchanged { path: start })).await;
                return Ok(());
            }
        }
        let mut folders = vec![start];
        while let Some(folder) = folders.pop() {
            let Some(entries) = self.propfind(&folder, "1").await? else {
                // The remote's own folder missing is not an empty listing.
                self.check_folder().await?;
                continue;
            };
            for entry in entries {
                let Some(event) = self.poll_event(&folder, entry, known, &mut folders) else {
                    continue;
                };
                if tx.send(Ok(event)).await.is_err() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// What one entry of `folder`'s listing means for a poll; queues the
    /// subfolders to walk.
    fn poll_event(
        &self,
        folder: &str,
        entry: multistatus::DavEntry,
        known: &dyn FolderTags,
        folders: &mut Vec<String>,
    ) -> Option<ListEvent> {
        let path = self.href_key(&entry.href)?;
        if path == folder {
            return Some(ListEvent::Folder {
                path,
                etag: entry.etag,
            });
        }
        // Only what lies below the folder; a reply naming anything else
        // (a server's quirk) must not make the walk loop.
        let below = folder.is_empty() || path.starts_with(&format!("{folder}/"));
        if !below || validate_key(&path).is_err() {
            return None;
        }
        if entry.is_folder {
            if entry.etag.is_some() && known.tag(&path) == entry.etag {
                return Some(ListEvent::Unchanged { path });
            }
            folders.push(path);
            return None;
        }
        let name = path.rsplit('/').next().unwrap_or(&path);
        if name.ends_with(PART_SUFFIX) {
            return None;
        }
        Some(ListEvent::Object(ObjectMeta {
            key: path,
            size: entry.size.unwrap_or(0),
            etag: entry.etag,
            modified: entry.modified,
        }))
    }
}

impl WebDavRemote {
    /// A path from a PROPFIND reply (the server's whole path, as the HTTP
    /// store reports it) relative to the remote's folder; `None` if outside.
    fn relative<'p>(&self, path: &'p str) -> Option<&'p str> {
        let base = &self.inner.base_path;
        if base.is_empty() {
            return Some(path);
        }
        path.strip_prefix(base.as_str())?.strip_prefix('/')
    }
}

/// `Authorization: Basic ...`, marked sensitive so no debug output shows it.
fn basic_auth(user: &str, password: &Secret) -> HeaderValue {
    use base64::Engine;
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", password.expose()));
    let mut value =
        HeaderValue::from_str(&format!("Basic {token}")).expect("base64 is a valid header value");
    value.set_sensitive(true);
    value
}

/// An entity tag as `If-Match` and `If` want it: quoted (servers and
/// caches sometimes hand them out bare).
fn quoted(etag: &str) -> String {
    if etag.starts_with('"') || etag.starts_with("W/") {
        etag.to_owned()
    } else {
        format!("\"{etag}\"")
    }
}

/// `(first byte, whole size)` of a `Content-Range: bytes FIRST-LAST/SIZE`.
fn parse_content_range(value: &str) -> Option<(u64, u64)> {
    let (range, size) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (first, _) = range.split_once('-')?;
    Some((first.trim().parse().ok()?, size.trim().parse().ok()?))
}

/// The temporary an upload to `key` goes to first.
fn temp_key(key: &str) -> String {
    match key.rsplit_once('/') {
        Some((folder, name)) => format!("{folder}/.{name}{PART_SUFFIX}"),
        None => format!(".{key}{PART_SUFFIX}"),
    }
}

/// Reads exactly `len` bytes of the file into `tx` through the one chunk
/// reader (hashed, admitted by the limits, stopped by cancellation), adding
/// them to `progress` as they go; returns the size and the hash. Stops when
/// `cancel` fires or the request stops taking the body.
async fn read_into(
    mut chunks: FileChunks,
    len: u64,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    budget: &TransferBudget,
    progress: &AtomicU64,
    cancel: &CancellationToken,
) -> Result<(u64, blake3::Hash), RemoteError> {
    let mut left = len;
    while left > 0 {
        let want = left.min(CHUNK_BYTES as u64);
        // Reserved before it is read, given back once the request has sent
        // it (the chunk carries its reservation). The chunks before it are
        // on their way and need nothing more, so this wait always ends.
        let reservation = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(RemoteError::Cancelled),
            reservation = budget.reserve(want) => reservation,
        };
        let chunk = chunks.next_chunk(want as usize).await?;
        if (chunk.len() as u64) < want {
            // The request must not complete with a short body.
            let _ = tx.send(Err(std::io::Error::other("the file shrank"))).await;
            return Err(RemoteError::Io {
                action: "read",
                key: chunks.path().display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file shrank while it was being sent",
                ),
            });
        }
        if tx.send(Ok(reservation.hold(chunk))).await.is_err() {
            // The request ended early; its error says why.
            break;
        }
        left -= want;
        progress.fetch_add(want, Ordering::Relaxed);
    }
    let (read, hash) = chunks.finish();
    Ok((read.min(len - left), hash))
}

#[async_trait::async_trait]
impl Remote for WebDavRemote {
    /// The MOVE that places the temporary carries the precondition (RFC
    /// 4918): `Overwrite: F` for [`Precondition::Absent`], an `If` header
    /// tagging the key's URL with the ETag for [`Precondition::Matches`].
    /// A HEAD just before the MOVE covers servers that ignore `If`; on
    /// servers that refuse any ETag in `If` (rclone's), found out once per
    /// remote, that HEAD is the only check, leaving a window of one request.
    async fn put_file_if(
        &self,
        key: &str,
        source: &FsPath,
        precondition: &Precondition,
        progress: &AtomicU64,
        cancel: &CancellationToken,
    ) -> Result<PutReport, RemoteError> {
        validate_key(key)?;
        if cancel.is_cancelled() {
            return Err(RemoteError::Cancelled);
        }
        self.make_parents(key).await?;
        let temp = temp_key(key);
        let sent = self.put_temp(key, &temp, source, progress, cancel).await;
        let (size, hash) = match sent {
            Ok(sent) => sent,
            Err(err) => {
                // Best effort; the next attempt replaces it anyway, and the
                // journal's sweep deletes it if there is none.
                let _ = self.delete_any(&temp).await;
                if matches!(err, RemoteError::Cancelled) {
                    self.watch_cut_off_temporary(temp);
                }
                return Err(self.folder_gone(key, err).await);
            }
        };
        if let Err(err) = self.move_into_place(key, &temp, precondition).await {
            let _ = self.delete_any(&temp).await;
            return Err(match err {
                RemoteError::PreconditionFailed { .. } => err,
                err => self.folder_gone(key, err).await,
            });
        }
        let Some(found) = self.head_key(key).await? else {
            return Err(RemoteError::Io {
                action: "verify the upload of",
                key: key.to_owned(),
                source: std::io::Error::other("the object is missing right after its upload"),
            });
        };
        if found.size != size {
            return Err(RemoteError::Io {
                action: "verify the upload of",
                key: key.to_owned(),
                source: std::io::Error::other(
                    "the remote holds a different number of bytes than were sent (another writer, or a fault on the server)",
                ),
            });
        }
        Ok(PutReport {
            size,
            blake3: hash.into(),
            etag: found.etag,
            modified: found.modified,
        })
    }

    /// A GET with `Range: bytes=OFFSET-` and, given `expected` with an ETag,
    /// `If-Match` (the reply's ETag, size and time are checked again).
    async fn read(
        &self,
        key: &str,
        offset: u64,
        expected: Option<&ObjectMeta>,
    ) -> Result<ObjectRead, RemoteError> {
        validate_key(key)?;
        self.read_key(key, offset, expected).await
    }

    /// [`Remote::put_file`], with the temporary recorded in `journal` while
    /// it may exist, so that a temporary left by a crash is deleted by
    /// [`Remote::abandon_upload`] if no later attempt replaces it. (Plain
    /// WebDAV cannot resume an upload, so nothing else is kept.)
    async fn put_file_resumable(
        &self,
        key: &str,
        source: &FsPath,
        precondition: &Precondition,
        progress: &AtomicU64,
        cancel: &CancellationToken,
        journal: &dyn crate::UploadJournal,
    ) -> Result<PutReport, RemoteError> {
        journal.save(Some(TEMPORARY_STATE.to_owned())).await?;
        let put = self
            .put_file_if(key, source, precondition, progress, cancel)
            .await;
        if put.is_ok() {
            // A failed save only costs a needless delete later.
            let _ = journal.save(None).await;
        }
        put
    }

    async fn abandon_upload(&self, key: &str, _state: &str) -> Result<(), RemoteError> {
        validate_key(key)?;
        self.delete_any(&temp_key(key)).await
    }

    async fn copy(
        &self,
        from_key: &str,
        to_key: &str,
        cancel: &CancellationToken,
    ) -> Result<ObjectMeta, RemoteError> {
        validate_key(from_key)?;
        validate_key(to_key)?;
        if cancel.is_cancelled() {
            return Err(RemoteError::Cancelled);
        }
        self.make_parents(to_key).await?;
        // Not raced against cancellation, like MOVE.
        let copying = self
            .request(
                Method::from_bytes(b"COPY").expect("a valid method"),
                self.url(from_key),
            )
            .header("Destination", self.url(to_key).as_str())
            .header("Overwrite", "T")
            .timeout(REQUEST_BASE_TIMEOUT);
        match self.send("copy", to_key, copying).await {
            Ok(_) => {}
            // The source is missing only if the folder is not: a vanished
            // folder must not make the caller forget what it holds.
            Err(RemoteError::NotFound { .. }) => {
                self.check_folder().await?;
                return Err(RemoteError::NotFound {
                    key: from_key.to_owned(),
                });
            }
            Err(e) => return Err(self.folder_gone(to_key, e).await),
        }
        self.head_key(to_key).await?.ok_or_else(|| RemoteError::Io {
            action: "verify the copy at",
            key: to_key.to_owned(),
            source: std::io::Error::other("the copy is missing right after it was made"),
        })
    }

    async fn delete(&self, key: &str) -> Result<(), RemoteError> {
        validate_key(key)?;
        self.delete_any(key).await
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, RemoteError> {
        validate_key(key)?;
        self.head_key(key).await
    }

    fn list(&self, prefix: &str) -> ObjectStream {
        let (tx, rx) = mpsc::channel(LISTING_QUEUE);
        let (remote, prefix) = (self.clone(), prefix.to_owned());
        tokio::spawn(async move {
            if let Err(err) = remote.walk(&prefix, &tx).await {
                let _ = tx.send(Err(err)).await;
            }
        });
        Box::pin(ReceiverStream::new(rx))
    }

    /// PROPFIND `Depth: 1`, one folder at a time, descending only into
    /// folders whose `getetag` differs from `known`'s; with a known tag for
    /// `prefix` itself, a `Depth: 0` PROPFIND first, so an unchanged tree
    /// costs one request. Folder ETags that change when anything below
    /// changes are what Nextcloud and ownCloud give; on servers whose folder
    /// ETags change only with the folder's own entries (Apache, rclone), a
    /// poller must not pass known tags, or changes deep down go unseen.
    fn list_changed(&self, prefix: &str, known: Arc<dyn FolderTags>) -> ListEventStream {
        let (tx, rx) = mpsc::channel(LISTING_QUEUE);
        let (remote, prefix) = (self.clone(), prefix.to_owned());
        tokio::spawn(async move {
            if let Err(err) = remote.walk_changed(&prefix, &*known, &tx).await {
                let _ = tx.send(Err(err)).await;
            }
        });
        Box::pin(ReceiverStream::new(rx))
    }

    fn throttle(&self) -> crate::Throttle {
        self.throttle.clone()
    }

    fn describe(&self) -> String {
        format!("webdav:{}", self.inner.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_are_read() {
        assert_eq!(parse_content_range("bytes 5-9/10"), Some((5, 10)));
        assert_eq!(parse_content_range("bytes */10"), None);
        assert_eq!(quoted("abc"), "\"abc\"");
        assert_eq!(quoted("\"abc\""), "\"abc\"");
    }

    #[test]
    fn temporaries_sit_beside_their_key() {
        assert_eq!(temp_key("a/b/c.jpg"), "a/b/.c.jpg.syncroll-part");
        assert_eq!(temp_key("c.jpg"), ".c.jpg.syncroll-part");
    }
}
