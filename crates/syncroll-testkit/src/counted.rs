//! A response body that counts the bytes it hands to the connection, so a
//! test can tell how much of an object a server really sent (a resumed
//! download fetches only the rest).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use hyper::body::Bytes;

/// `B`, counting its data bytes into a shared counter.
#[derive(Debug)]
pub(crate) struct Counted<B> {
    inner: Pin<Box<B>>,
    sent: Arc<AtomicU64>,
}

impl<B> Counted<B> {
    pub fn new(inner: B, sent: Arc<AtomicU64>) -> Self {
        Self {
            inner: Box::pin(inner),
            sent,
        }
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
