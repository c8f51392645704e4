//! A real backend whose reads are cut short, to interrupt a download at a
//! known point; shared by the integration and interop suites.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use syncroll_remote::{
    ByteStream, ObjectMeta, ObjectRead, ObjectStream, Precondition, PutReport, Remote, RemoteError,
};
use tokio_util::sync::CancellationToken;

/// How [`Cut`] ends a read.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code, reason = "each suite uses the modes it needs")]
pub enum CutMode {
    /// A connection reset (transient), as a network fault or a killed
    /// transfer gives.
    Fail,
    /// Nothing more, ever: a stalled server.
    Stall,
}

/// A real backend whose reads end after `limit` bytes, to interrupt a
/// download at a known point. Only the byte stream is cut; every request
/// still goes to the real backend.
#[derive(Debug)]
pub struct Cut {
    inner: Arc<dyn Remote>,
    limit: u64,
    mode: CutMode,
}

impl Cut {
    pub fn new(inner: Arc<dyn Remote>, limit: u64, mode: CutMode) -> Self {
        Self { inner, limit, mode }
    }

    fn cut(&self, body: ByteStream, offset: u64) -> ByteStream {
        Box::pin(CutBody {
            inner: Some(body),
            left: self.limit.saturating_sub(offset),
            mode: self.mode,
        })
    }
}

/// A body that ends as [`CutMode`] says after `left` bytes. The real body
/// is dropped right there, as a dead process's connection would be, so the
/// backend's reader stops too.
struct CutBody {
    inner: Option<ByteStream>,
    left: u64,
    mode: CutMode,
}

impl tokio_stream::Stream for CutBody {
    type Item = Result<Bytes, RemoteError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.left == 0 {
            self.inner = None;
            return match self.mode {
                CutMode::Fail => {
                    self.mode = CutMode::Stall;
                    Poll::Ready(Some(Err(RemoteError::Io {
                        action: "download",
                        key: "cut".into(),
                        source: std::io::ErrorKind::ConnectionReset.into(),
                    })))
                }
                CutMode::Stall => Poll::Pending,
            };
        }
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let take = (chunk.len() as u64).min(self.left);
                self.left -= take;
                Poll::Ready(Some(Ok(chunk.slice(..take as usize))))
            }
            other => other,
        }
    }
}

#[async_trait::async_trait]
impl Remote for Cut {
    async fn put_file(
        &self,
        key: &str,
        source: &Path,
        progress: &AtomicU64,
        cancel: &CancellationToken,
    ) -> Result<PutReport, RemoteError> {
        self.inner.put_file(key, source, progress, cancel).await
    }

    async fn put_file_if(
        &self,
        key: &str,
        source: &Path,
        precondition: &Precondition,
        progress: &AtomicU64,
        cancel: &CancellationToken,
    ) -> Result<PutReport, RemoteError> {
        let inner = &self.inner;
        inner
            .put_file_if(key, source, precondition, progress, cancel)
            .await
    }

    async fn read(
        &self,
        key: &str,
        offset: u64,
        expected: Option<&ObjectMeta>,
    ) -> Result<ObjectRead, RemoteError> {
        let mut read = self.inner.read(key, offset, expected).await?;
        read.body = self.cut(read.body, read.offset);
        Ok(read)
    }

    async fn copy(
        &self,
        from_key: &str,
        to_key: &str,
        cancel: &CancellationToken,
    ) -> Result<ObjectMeta, RemoteError> {
        self.inner.copy(from_key, to_key, cancel).await
    }

    async fn delete(&self, key: &str) -> Result<(), RemoteError> {
        self.inner.delete(key).await
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, RemoteError> {
        self.inner.head(key).await
    }

    fn list(&self, prefix: &str) -> ObjectStream {
        self.inner.list(prefix)
    }

    fn describe(&self) -> String {
        format!("cut:{}", self.inner.describe())
    }
}
