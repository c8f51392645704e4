//! syncroll-remote's integration tests: backends driven through the public
//! API against real servers on loopback.

mod s3;
mod s3_server;

use std::fmt::Debug;
use std::time::{Duration, Instant};

/// Bounds waits for things that normally take milliseconds; it only limits
/// how long a failing test hangs.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Polls `probe` until it returns `Ok`, for at most `timeout`; on timeout
/// panics naming `what` and the last value seen.
pub async fn wait_until<T, L: Debug>(
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> Result<T, L>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}; last seen: {last:?}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}
