//! Telling a service manager how the daemon is: systemd's notify protocol
//! (`Type=notify` in `systemd/syncrolld.service`), through the `sd-notify`
//! crate.
//!
//! - `READY=1` once the control socket is bound and the catalog is open,
//!   so `systemctl start` returns when `syncroll` can talk to the daemon;
//! - `STATUS=` kept current with what the daemon is doing, in the words of
//!   [`status_line`], so `systemctl --user status syncrolld` shows it;
//! - `WATCHDOG=1` every half `WatchdogSec=` while the daemon's own health
//!   check passes (the catalog answers and the sync engine can report its
//!   queue, each within a quarter of it), so a hung daemon is restarted;
//! - `STOPPING=1` when a shutdown begins.
//!
//! Without `NOTIFY_SOCKET` (a terminal, launchd) every call does nothing.
//! Only this module knows the protocol: a macOS counterpart would sit
//! beside it.

use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::app::App;
use crate::sync::SyncSnapshot;

/// How often `STATUS=` is brought up to date (sent only when it changed).
const STATUS_EVERY: Duration = Duration::from_secs(2);

/// The daemon's side of the service manager's protocol.
#[derive(Debug, Clone)]
pub struct ServiceManager {
    /// Whether a manager listens (`NOTIFY_SOCKET` is set).
    listening: bool,
}

impl ServiceManager {
    /// The manager the environment names, if any.
    pub fn from_env() -> Self {
        Self {
            listening: std::env::var_os("NOTIFY_SOCKET").is_some(),
        }
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if !self.listening || states.is_empty() {
            return;
        }
        // The environment is kept: the watchdog task reads it after this.
        if let Err(error) = sd_notify::notify(false, states) {
            warn!(%error, "cannot notify the service manager");
        }
    }

    /// Startup is done: the socket answers and the catalog is open.
    pub fn ready(&self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// A shutdown began.
    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }

    /// Keeps `STATUS=` current and feeds the watchdog, until `cancel`.
    pub fn spawn(
        &self,
        app: Arc<App>,
        cancel: CancellationToken,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if !self.listening {
            return None;
        }
        let mut usec = 0;
        let watchdog = sd_notify::watchdog_enabled(false, &mut usec)
            .then(|| Duration::from_micros(usec))
            .filter(|period| !period.is_zero());
        let manager = self.clone();
        Some(tokio::spawn(async move {
            manager.run(app, watchdog, cancel).await;
        }))
    }

    async fn run(&self, app: Arc<App>, watchdog: Option<Duration>, cancel: CancellationToken) {
        // Fed at twice the rate the manager expects, as sd_watchdog_enabled(3)
        // advises, and checked within a quarter of its period.
        let feed_every = watchdog.map(|w| w / 2);
        let check_within = watchdog.map_or(STATUS_EVERY, |w| w / 4);
        let tick = feed_every.map_or(STATUS_EVERY, |f| f.min(STATUS_EVERY));
        let mut last_status = String::new();
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = interval.tick() => {}
            }
            let health = tokio::time::timeout(check_within, health(&app)).await;
            match health {
                Ok(Ok(line)) => {
                    let mut states = Vec::new();
                    if watchdog.is_some() {
                        states.push(NotifyState::Watchdog);
                    }
                    if line != last_status {
                        debug!(status = %line, "service status");
                        states.push(NotifyState::Status(&line));
                    }
                    self.send(&states);
                    last_status = line;
                }
                // No WATCHDOG=1: if this goes on past WatchdogSec, the
                // manager restarts the daemon, which is the point.
                Ok(Err(error)) => warn!(%error, "health check failed; the watchdog is not fed"),
                Err(_) => warn!(
                    within = ?check_within,
                    "health check did not answer in time; the watchdog is not fed"
                ),
            }
        }
    }
}

/// The daemon's health, as the watchdog asks it: the catalog answers and
/// the sync engine reports its queue. Returns the status line.
async fn health(app: &App) -> Result<String, crate::app::AppError> {
    let snapshot = app
        .sync()
        .snapshot()
        .await
        .map_err(crate::app::AppError::from)?;
    let holds = app.holds(false).await?.len() as u64;
    // Only what the line names: `App::status` would also total the photos
    // and the version store every few seconds.
    let conflicts = app
        .store()
        .open_conflict_count()
        .await
        .map_err(crate::app::AppError::from)?;
    let missing_roots = app
        .roots()
        .await?
        .iter()
        .filter(|root| matches!(root.root.state, syncroll_core::RootState::Missing { .. }))
        .count() as u64;
    Ok(status_line(&Attention {
        snapshot: &snapshot,
        holds,
        conflicts,
        missing_roots,
        now_s: syncroll_core::store::now_ms() / 1000,
    }))
}

/// What the status line is made of.
struct Attention<'a> {
    snapshot: &'a SyncSnapshot,
    holds: u64,
    conflicts: u64,
    missing_roots: u64,
    now_s: i64,
}

/// One line for `systemctl status`: what needs the user first, then what
/// the daemon is doing ("syncing 3 collections: 120 queued, 4.2 MB/s",
/// "paused until 18:00 UTC", "idle").
fn status_line(a: &Attention<'_>) -> String {
    let mut attention = Vec::new();
    let plural = |n: u64, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    if a.holds > 0 {
        attention.push(plural(a.holds, "held deletion", "held deletions"));
    }
    if a.snapshot.failed > 0 {
        attention.push(plural(a.snapshot.failed, "failed job", "failed jobs"));
    }
    if a.missing_roots > 0 {
        attention.push(plural(a.missing_roots, "missing root", "missing roots"));
    }
    if a.conflicts > 0 {
        attention.push(plural(a.conflicts, "conflict", "conflicts"));
    }
    let doing = match a.snapshot.paused {
        Some(None) => "paused until resumed".to_owned(),
        Some(Some(until)) => format!("paused until {}", clock(until, a.now_s)),
        None if a.snapshot.idle => "idle".to_owned(),
        None => {
            let busy = a
                .snapshot
                .per_collection
                .values()
                .filter(|c| c.queued + c.running > 0)
                .count() as u64;
            let mut line = if busy > 0 {
                format!(
                    "syncing {}: {} queued",
                    plural(busy, "collection", "collections"),
                    a.snapshot.queued
                )
            } else {
                "scanning".to_owned()
            };
            if a.snapshot.rate_bytes_per_second >= 1.0 {
                line.push_str(&format!(
                    ", {}/s",
                    decimal_bytes(a.snapshot.rate_bytes_per_second)
                ));
            }
            line
        }
    };
    if attention.is_empty() {
        doing
    } else {
        format!("attention: {}; {doing}", attention.join(", "))
    }
}

/// A pause's end: "18:00 UTC" today, else with its date.
fn clock(until_s: i64, now_s: i64) -> String {
    let (day, secs) = (until_s.div_euclid(86_400), until_s.rem_euclid(86_400));
    let time = format!("{:02}:{:02} UTC", secs / 3600, secs % 3600 / 60);
    if day == now_s.div_euclid(86_400) {
        time
    } else {
        let (y, m, d) = syncroll_core::calendar::civil_from_days(day);
        format!("{y:04}-{m:02}-{d:02} {time}")
    }
}

/// "4.2 MB/s" as rclone and most tools print rates: decimal units.
fn decimal_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> SyncSnapshot {
        SyncSnapshot {
            idle: true,
            ..SyncSnapshot::default()
        }
    }

    fn line(snapshot: &SyncSnapshot, holds: u64, conflicts: u64) -> String {
        status_line(&Attention {
            snapshot,
            holds,
            conflicts,
            missing_roots: 0,
            now_s: 1_796_169_600, // 2026-12-02 00:00 UTC
        })
    }

    #[test]
    fn the_line_says_what_needs_the_user_first() {
        assert_eq!(line(&snapshot(), 0, 0), "idle");
        assert_eq!(
            line(&snapshot(), 2, 1),
            "attention: 2 held deletions, 1 conflict; idle"
        );
        let paused = SyncSnapshot {
            paused: Some(Some(1_796_169_600 + 18 * 3600)),
            ..snapshot()
        };
        assert_eq!(line(&paused, 0, 0), "paused until 18:00 UTC");
        let later = SyncSnapshot {
            paused: Some(Some(1_796_169_600 + 86_400 + 60)),
            ..snapshot()
        };
        assert_eq!(line(&later, 0, 0), "paused until 2026-12-03 00:01 UTC");
        let forever = SyncSnapshot {
            paused: Some(None),
            ..snapshot()
        };
        assert_eq!(line(&forever, 0, 0), "paused until resumed");
    }

    #[test]
    fn rates_use_decimal_units() {
        assert_eq!(decimal_bytes(4_200_000.0), "4.2 MB");
        assert_eq!(decimal_bytes(999.0), "999 B");
        assert_eq!(decimal_bytes(1_500.0), "1.5 kB");
    }
}
