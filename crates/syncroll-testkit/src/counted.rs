//! A response body that counts the bytes it hands to the connection, so a
//! test can tell how much of an object a server really sent (a resumed
//! download fetches only the rest), and that can pause once it has sent
//! so many bytes ([`ReplyHold`]), so a test can act while a download is
//! under way however fast the loopback is.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use hyper::body::Bytes;
use tokio::sync::watch;

/// How long a paused reply waits at most to be let go: a test that never
/// lets go must not hang the server's runtime for ever.
const HOLD_LIMIT: Duration = Duration::from_secs(120);

/// Pauses response bodies once they have sent a number of bytes: `None`,
/// nothing is paused; `Some(n)`, every body that has sent `n` bytes or
/// more (a frame is sent whole, so it may be a little more) waits until the
/// hold is lifted or raised above what it sent.
#[derive(Debug)]
pub(crate) struct ReplyHold {
    after: watch::Sender<Option<u64>>,
}

impl ReplyHold {
    pub fn new() -> Self {
        Self {
            after: watch::channel(None).0,
        }
    }

    /// From now on bodies pause after `bytes` (`None`: they go on).
    pub fn set(&self, bytes: Option<u64>) {
        self.after.send_replace(bytes);
    }

    fn watch(&self) -> watch::Receiver<Option<u64>> {
        self.after.subscribe()
    }
}

/// `B`, counting its data bytes into a shared counter.
pub(crate) struct Counted<B> {
    inner: Pin<Box<B>>,
    sent: Arc<AtomicU64>,
    hold: Option<watch::Receiver<Option<u64>>>,
    /// Set while the body is paused by its hold.
    paused: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl<B> std::fmt::Debug for Counted<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counted")
            .field("sent", &self.sent)
            .field("paused", &self.paused.is_some())
            .finish_non_exhaustive()
    }
}

impl<B> Counted<B> {
    pub fn new(inner: B, sent: Arc<AtomicU64>) -> Self {
        Self {
            inner: Box::pin(inner),
            sent,
            hold: None,
            paused: None,
        }
    }

    /// Whether the hold says to pause now; if so, arms `paused`.
    fn must_pause(&mut self) -> bool {
        let Some(hold) = &self.hold else {
            return false;
        };
        let sent = self.sent.load(Ordering::SeqCst);
        if (*hold.borrow()).is_none_or(|after| sent < after) {
            return false;
        }
        let mut hold = hold.clone();
        self.paused = Some(Box::pin(async move {
            let lifted = hold.wait_for(|after| after.is_none_or(|after| sent < after));
            let _ = tokio::time::timeout(HOLD_LIMIT, lifted).await;
        }));
        true
    }
}

impl<B> Body for Counted<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if self.paused.is_none() && !self.inner.is_end_stream() {
            self.must_pause();
        }
        if let Some(paused) = self.paused.as_mut() {
            if paused.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.paused = None;
        }
        let polled = self.inner.as_mut().poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.sent.fetch_add(data.len() as u64, Ordering::SeqCst);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// `response` with its body counted into `served`.
pub(crate) fn counted<B>(
    response: hyper::Response<B>,
    served: Arc<AtomicU64>,
) -> hyper::Response<Counted<B>> {
    response.map(|body| Counted::new(body, served))
}

/// [`counted`], the body also paused as `hold` says.
pub(crate) fn counted_held<B>(
    response: hyper::Response<B>,
    served: Arc<AtomicU64>,
    hold: &ReplyHold,
) -> hyper::Response<Counted<B>> {
    response.map(|body| Counted {
        hold: Some(hold.watch()),
        ..Counted::new(body, served)
    })
}
