//! A TCP proxy for fault tests: it sits between a client (the daemon) and a
//! server (such as an [`S3Server`](crate::S3Server)) on 127.0.0.1 and, as a
//! seeded [`FaultPlan`] says, resets connections as they are accepted, cuts
//! them mid-request or mid-reply, or stalls them. Faults are capped in
//! number, so a client that retries converges, and can be switched off. Like
//! `S3Server` it runs on its own thread and runtime and stops when dropped.
//!
//! HTTP clients keep connections alive and send many requests over each, so
//! faults are placed by bytes, not by connection: a connection is cut once a
//! drawn number of bytes has gone through it, which lands in whatever request
//! (or reply) is in flight at that moment. A cut is a TCP reset of both
//! sides, as a dropped NAT entry or a crashed middlebox would cause.
//!
//! Which fault the n-th connection gets, and after how many bytes, is drawn
//! from the seed and n, so the plan is the same on every run; which requests
//! travel on the n-th connection depends on the client's scheduling, so the
//! requests hit can differ between runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::background::Background;

/// What the proxy does to the connections it accepts.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    /// Seeds the draws; the same seed gives the same plan.
    pub seed: u64,
    /// Faults injected at most, of all kinds together; past it the proxy
    /// forwards faithfully, so a client that retries converges.
    pub max_faults: u64,
    /// One new connection in this many is reset before a byte passes
    /// (0: none).
    pub reset_one_in: u64,
    /// Mean bytes from the client (requests) between two faults on a
    /// connection, each a cut, or one time in `stall_one_in` a stall
    /// (0: none). Gaps are drawn uniformly from 1 to twice the mean.
    pub request_gap_bytes: u64,
    pub stall_one_in: u64,
    /// How long a stall pauses the client's bytes.
    pub stall: Duration,
    /// Mean bytes from the server (replies) between two cuts on a
    /// connection (0: none).
    pub reply_gap_bytes: u64,
}

impl Default for FaultPlan {
    fn default() -> Self {
        Self {
            seed: 0x5eed,
            max_faults: 32,
            reset_one_in: 3,
            request_gap_bytes: 2 << 20,
            stall_one_in: 3,
            stall: Duration::from_millis(300),
            reply_gap_bytes: 4 << 10,
        }
    }
}

/// Connections accepted and faults injected so far, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub connections: u64,
    /// Reset before a byte was forwarded.
    pub resets_at_accept: u64,
    /// Reset after part of a request reached the server.
    pub cut_requests: u64,
    /// Reset after part of a reply reached the client: the request took
    /// effect, but the client cannot know.
    pub cut_replies: u64,
    /// Paused for [`FaultPlan::stall`] mid-request.
    pub stalls: u64,
}

impl FaultCounts {
    /// Faults of every kind.
    pub fn faults(&self) -> u64 {
        self.resets_at_accept + self.cut_requests + self.cut_replies + self.stalls
    }
}

/// A running proxy.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _server: Background,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (a random port), forwarding to `upstream` as
    /// `plan` says, with faults on.
    pub fn start(upstream: SocketAddr, plan: FaultPlan) -> Self {
        let shared = Arc::new(Shared::new(plan));
        let state = shared.clone();
        let server = Background::start("fault proxy", 1, move |client| {
            let n = state.connections.fetch_add(1, Ordering::SeqCst);
            let state = state.clone();
            async move { connection(client, upstream, &state, n).await }
        });
        Self {
            addr: server.addr,
            shared,
            _server: server,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, for clients that take a URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Turns faults on or off. Off, nothing more is injected (a stall under
    /// way runs out); connections planned for a fault are forwarded
    /// faithfully.
    pub fn set_faults(&self, on: bool) {
        self.shared.enabled.store(on, Ordering::SeqCst);
    }

    pub fn counts(&self) -> FaultCounts {
        let s = &self.shared;
        let load = |n: &AtomicU64| n.load(Ordering::SeqCst);
        FaultCounts {
            connections: load(&s.connections),
            resets_at_accept: load(s.counter(Kind::ResetAtAccept)),
            cut_requests: load(s.counter(Kind::CutRequest)),
            cut_replies: load(s.counter(Kind::CutReply)),
            stalls: load(s.counter(Kind::Stall)),
        }
    }
}

/// The kinds of fault, indexing [`Shared::injected`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ResetAtAccept = 0,
    CutRequest = 1,
    CutReply = 2,
    Stall = 3,
}

/// Which way bytes go through a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Request = 1,
    Reply = 2,
}

#[derive(Debug)]
struct Shared {
    plan: FaultPlan,
    enabled: AtomicBool,
    connections: AtomicU64,
    /// Faults of all kinds, checked against `max_faults`.
    total: AtomicU64,
    injected: [AtomicU64; 4],
}

impl Shared {
    fn new(plan: FaultPlan) -> Self {
        Self {
            plan,
            enabled: AtomicBool::new(true),
            connections: AtomicU64::new(0),
            total: AtomicU64::new(0),
            injected: Default::default(),
        }
    }

    fn counter(&self, kind: Kind) -> &AtomicU64 {
        &self.injected[kind as usize]
    }

    /// Takes one of the plan's faults for `kind`, if faults are on and the
    /// cap is not reached; `false` means: forward faithfully.
    fn take(&self, kind: Kind) -> bool {
        if !self.enabled.load(Ordering::SeqCst) {
            return false;
        }
        let max = self.plan.max_faults;
        let took = self
            .total
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok();
        if took {
            self.counter(kind).fetch_add(1, Ordering::SeqCst);
        }
        took
    }

    /// Whether connection number `n` is planned to be reset at once.
    fn resets(&self, n: u64) -> bool {
        SplitMix::new(self.plan.seed, n, 0).one_in(self.plan.reset_one_in)
    }
}

/// The faults planned for one direction of one connection, drawn as its
/// bytes pass.
struct Faults<'a> {
    shared: &'a Shared,
    direction: Direction,
    draw: SplitMix,
    /// Where the next fault comes, in bytes since the connection began.
    next_at: Option<u64>,
}

impl<'a> Faults<'a> {
    fn new(shared: &'a Shared, n: u64, direction: Direction) -> Self {
        let mut faults = Self {
            shared,
            direction,
            draw: SplitMix::new(shared.plan.seed, n, direction as u64),
            next_at: Some(0),
        };
        faults.next_at = faults.gap().map(|gap| gap - 1);
        faults
    }

    /// Bytes to the next fault, from 1 to twice the mean.
    fn gap(&mut self) -> Option<u64> {
        let plan = &self.shared.plan;
        let mean = match self.direction {
            Direction::Request => plan.request_gap_bytes,
            Direction::Reply => plan.reply_gap_bytes,
        };
        (mean > 0).then(|| 1 + self.draw.below(2 * mean))
    }

    /// Injects the fault due now (unless faults are off or used up) and
    /// plans the next.
    async fn fire(&mut self) -> Result<(), End> {
        let kind = match self.direction {
            Direction::Reply => Kind::CutReply,
            Direction::Request if self.draw.one_in(self.shared.plan.stall_one_in) => Kind::Stall,
            Direction::Request => Kind::CutRequest,
        };
        let gap = self.gap();
        self.next_at = self.next_at.zip(gap).map(|(at, gap)| at + gap);
        match kind {
            _ if !self.shared.take(kind) => Ok(()),
            Kind::Stall => {
                tokio::time::sleep(self.shared.plan.stall).await;
                Ok(())
            }
            _ => Err(End::Cut),
        }
    }
}

/// splitmix64: enough randomness for a plan, and no dependency.
struct SplitMix(u64);

impl SplitMix {
    /// The stream of draws for `stream` of connection `n`.
    fn new(seed: u64, n: u64, stream: u64) -> Self {
        let mut mix = Self(seed ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03));
        mix.0 ^= n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        mix.next();
        mix
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..bound` (0 when `bound` is 0).
    fn below(&mut self, bound: u64) -> u64 {
        self.next().checked_rem(bound).unwrap_or(0)
    }

    /// True one time in `n` (never when `n` is 0).
    fn one_in(&mut self, n: u64) -> bool {
        n > 0 && self.below(n) == 0
    }
}

/// Serves connection number `n`.
async fn connection(client: TcpStream, upstream: SocketAddr, shared: &Shared, n: u64) {
    if shared.resets(n) && shared.take(Kind::ResetAtAccept) {
        reset(&client);
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        reset(&client);
        return;
    };
    relay(client, server, shared, n).await;
}

/// Makes dropping `stream` send a reset rather than a clean close.
fn reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

/// Forwards both ways until both sides are done, or a cut resets both.
async fn relay(mut client: TcpStream, mut server: TcpStream, shared: &Shared, n: u64) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let ended = {
        let (client_read, client_write) = client.split();
        let (server_read, server_write) = server.split();
        tokio::try_join!(
            pump(
                client_read,
                server_write,
                Faults::new(shared, n, Direction::Request)
            ),
            pump(
                server_read,
                client_write,
                Faults::new(shared, n, Direction::Reply)
            ),
        )
    };
    if let Err(End::Cut) = ended {
        reset(&client);
        reset(&server);
    }
}

/// Why a direction stopped early.
#[derive(Debug)]
enum End {
    Cut,
    /// A side went away; the other is closed normally.
    Io,
}

/// Copies `from` to `to` until `from` ends (then half-closes `to`), with
/// `faults` at their offsets.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut faults: Faults<'_>,
) -> Result<(), End> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut passed: u64 = 0;
    loop {
        let n = from.read(&mut buf).await.map_err(|_| End::Io)?;
        if n == 0 {
            let _ = to.shutdown().await;
            return Ok(());
        }
        let mut chunk = &buf[..n];
        // Offsets only grow, so this ends.
        while let Some(at) = faults
            .next_at
            .filter(|at| *at < passed + chunk.len() as u64)
        {
            let (before, rest) = chunk.split_at((at - passed) as usize);
            to.write_all(before).await.map_err(|_| End::Io)?;
            (passed, chunk) = (at, rest);
            faults.fire().await?;
        }
        to.write_all(chunk).await.map_err(|_| End::Io)?;
        passed += chunk.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};

    use super::*;

    /// An upstream that echoes each connection back, on its own thread.
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                std::thread::spawn(move || {
                    let mut back = stream.try_clone().unwrap();
                    let _ = std::io::copy(&mut stream, &mut back);
                    let _ = back.shutdown(Shutdown::Write);
                });
            }
        });
        addr
    }

    /// Sends `bytes` through the proxy and reads the echo until the end or
    /// an error.
    fn round_trip(proxy: &FaultProxy, bytes: &[u8]) -> Vec<u8> {
        let mut stream = TcpStream::connect(proxy.addr()).unwrap();
        let mut reader = stream.try_clone().unwrap();
        let echoed = std::thread::spawn(move || {
            let mut back = Vec::new();
            let _ = reader.read_to_end(&mut back);
            back
        });
        let _ = stream.write_all(bytes);
        let _ = stream.shutdown(Shutdown::Write);
        echoed.join().unwrap()
    }

    /// Every kind of fault, after a few hundred bytes at most; stalls of
    /// 1 ms only when asked for.
    fn dense(stall_one_in: u64) -> FaultPlan {
        FaultPlan {
            reset_one_in: 2,
            request_gap_bytes: 500,
            stall_one_in,
            stall: Duration::from_millis(1),
            reply_gap_bytes: 500,
            ..FaultPlan::default()
        }
    }

    fn payload() -> Vec<u8> {
        (0..300_000u32).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn with_faults_off_bytes_pass_intact() {
        let proxy = FaultProxy::start(echo_server(), dense(2));
        proxy.set_faults(false);
        for _ in 0..3 {
            assert_eq!(round_trip(&proxy, &payload()), payload());
        }
        assert_eq!(
            proxy.counts(),
            FaultCounts {
                connections: 3,
                ..FaultCounts::default()
            }
        );
    }

    #[test]
    fn each_cut_stops_a_stream_short_until_the_cap_is_reached() {
        let plan = FaultPlan {
            max_faults: 5,
            ..dense(0)
        };
        let proxy = FaultProxy::start(echo_server(), plan);
        for _ in 0..5 {
            assert!(round_trip(&proxy, &payload()).len() < 1000);
        }
        assert_eq!(round_trip(&proxy, &payload()), payload());
        let counts = proxy.counts();
        assert_eq!((counts.connections, counts.faults()), (6, 5), "{counts:?}");
    }

    #[test]
    fn stalls_delay_but_keep_the_bytes() {
        let plan = FaultPlan {
            reset_one_in: 0,
            request_gap_bytes: 50_000,
            reply_gap_bytes: 0,
            ..dense(1)
        };
        let proxy = FaultProxy::start(echo_server(), plan);
        assert_eq!(round_trip(&proxy, &payload()), payload());
        assert!(proxy.counts().stalls > 1, "{:?}", proxy.counts());
    }

    #[test]
    fn the_plan_is_the_same_for_the_same_seed() {
        let plan = |seed| {
            let shared = Shared::new(FaultPlan {
                seed,
                ..FaultPlan::default()
            });
            let offsets = |n| Faults::new(&shared, n, Direction::Request).next_at;
            (0..64)
                .map(|n| (shared.resets(n), offsets(n)))
                .collect::<Vec<_>>()
        };
        assert_eq!(plan(7), plan(7));
        assert_ne!(plan(7), plan(8));
        let resets = plan(7).iter().filter(|(reset, _)| *reset).count();
        assert!((5..40).contains(&resets), "about one in three: {resets}");
    }
}
