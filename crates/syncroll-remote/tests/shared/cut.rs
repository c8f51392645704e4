//! A real backend whose reads are cut short, to interrupt a download at a
//! known point; shared by the integration and interop suites.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use syncroll_remote::{
    ByteStream, ObjectMeta, ObjectRead, ObjectStream, Precondition, PutReport, Remote, RemoteError,
};
use tokio_stream::StreamExt;
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
        let (mut left, mode) = (self.limit.saturating_sub(offset), self.mode);
        let limited = body.map_while(move |chunk| {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(err) => return Some(Err(err)),
            };
            if left == 0 {
                return None;
            }
            let take = (chunk.len() as u64).min(left);
            left -= take;
            Some(Ok(chunk.slice(..take as usize)))
        });
        let end: ByteStream = match mode {
            CutMode::Fail => Box::pin(tokio_stream::once(Err(RemoteError::Io {
                action: "download",
                key: "cut".into(),
                source: std::io::ErrorKind::ConnectionReset.into(),
            }))),
            CutMode::Stall => Box::pin(tokio_stream::pending::<Result<Bytes, RemoteError>>()),
        };
        Box::pin(limited.chain(end))
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
