//! What every loopback test server here shares: its own thread and tokio
//! runtime (so plain `#[test]` functions and async tests alike can use it),
//! a random port on 127.0.0.1, an accept loop that serves each connection
//! until the server stops, and a stop that waits for the thread.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A server running in the background; stopped and joined when dropped.
#[derive(Debug)]
pub(crate) struct Background {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Binds a loopback port and serves each connection with `connection`
    /// on a runtime of `workers` threads, each connection cut off when the
    /// server stops.
    pub fn start<F, Fut>(what: &'static str, workers: usize, connection: F) -> Self
    where
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<SocketAddr>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("{what} runtime: {e}"));
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .unwrap_or_else(|e| panic!("{what} loopback port: {e}"));
                let addr = listener.local_addr().expect("bound address");
                ready_tx.send(addr).expect("report address");
                accept(listener, connection, stop).await;
            });
        });
        let addr = ready_rx
            .recv()
            .unwrap_or_else(|_| panic!("the {what} failed to start"));
        Self {
            addr,
            shutdown,
            thread: Some(thread),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept<F, Fut>(listener: TcpListener, connection: F, shutdown: CancellationToken)
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let (serving, shutdown) = (connection(stream), shutdown.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = serving => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
}
