//! The daemon-wide bandwidth limit: which one is in force (the configured
//! `sync.bandwidth`, its timetable, or a live `syncroll limit` for a while),
//! applied to the shared [`Buckets`] every remote's [`Throttle`] holds, and
//! changed on time by one task.
//!
//! Timetables run on local time. For tests, the environment variable
//! [`TEST_CLOCK_ENV`] sets the local time the daemon's timetable clock starts
//! at (it then runs on in real time); nothing else reads it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chrono::{Datelike, NaiveDateTime, Timelike};
use syncroll_core::bandwidth::{Limit, Schedule, WEEK_SECS};
use syncroll_remote::{Buckets, Throttle};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// For tests only: `YYYY-MM-DDTHH:MM:SS`, the local time at which the
/// timetable clock starts when the daemon starts.
pub const TEST_CLOCK_ENV: &str = "SYNCROLL_TEST_CLOCK_START";

/// Where the limit in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `sync.bandwidth`, a single limit.
    Config,
    /// `sync.bandwidth`'s timetable.
    Timetable,
    /// `syncroll limit`.
    Override,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Timetable => "timetable",
            Self::Override => "override",
        }
    }
}

/// The limit in force now and what comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub limit: Limit,
    pub source: Source,
    /// When the limit changes by itself (a timetable's next entry, or a
    /// live limit lapsing), and to what; `None`: it does not.
    pub next: Option<(SystemTime, Limit)>,
}

/// A live limit set with `syncroll limit`.
#[derive(Debug, Clone, Copy)]
struct Override {
    limit: Limit,
    until: Option<Instant>,
}

/// The local time of the week timetables read.
#[derive(Debug, Clone)]
pub enum WeekClock {
    Local,
    /// Starts at a set local time (tests).
    StartingAt {
        start: NaiveDateTime,
        since: Instant,
    },
}

impl WeekClock {
    /// [`WeekClock::Local`], unless [`TEST_CLOCK_ENV`] sets a start.
    pub fn from_env() -> Result<Self, String> {
        let Ok(text) = std::env::var(TEST_CLOCK_ENV) else {
            return Ok(Self::Local);
        };
        let start = NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S")
            .map_err(|e| format!("{TEST_CLOCK_ENV}={text:?}: {e} (use YYYY-MM-DDTHH:MM:SS)"))?;
        Ok(Self::StartingAt {
            start,
            since: Instant::now(),
        })
    }

    /// Whole seconds since Monday 00:00, local time, and how far into the
    /// next second it is.
    pub fn week_time(&self) -> (u32, Duration) {
        let now = match self {
            Self::Local => chrono::Local::now().naive_local(),
            Self::StartingAt { start, since } => {
                *start + chrono::Duration::from_std(since.elapsed()).unwrap_or_default()
            }
        };
        let secs =
            now.weekday().num_days_from_monday() * 24 * 3600 + now.num_seconds_from_midnight();
        // A leap second shows as nanoseconds past 1e9.
        let into = Duration::from_nanos(u64::from(now.nanosecond().min(999_999_999)));
        (secs, into)
    }
}

/// The daemon's limit; cheap to clone.
#[derive(Debug, Clone)]
pub struct Bandwidth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    schedule: Schedule,
    clock: WeekClock,
    shared: Arc<Buckets>,
    live: Mutex<Option<Override>>,
    changed: Notify,
}

impl Bandwidth {
    pub fn new(schedule: Schedule, clock: WeekClock) -> Self {
        let this = Self {
            inner: Arc::new(Inner {
                schedule,
                clock,
                shared: Buckets::new(),
                live: Mutex::new(None),
                changed: Notify::new(),
            }),
        };
        this.apply();
        this
    }

    /// The throttle of a remote: the daemon's limit and the remote's own
    /// (`remotes add --limit`), if it has one.
    pub fn throttle_for(&self, own: Option<Limit>) -> Throttle {
        let mut buckets = vec![self.inner.shared.clone()];
        if let Some(own) = own {
            let remote = Buckets::new();
            set_rates(&remote, own);
            buckets.push(remote);
        }
        Throttle::new(buckets)
    }

    /// Sets a live limit, for `duration` or until changed again.
    pub fn set_live(&self, limit: Limit, duration: Option<Duration>) -> Now {
        let until = duration.map(|d| Instant::now() + d);
        *self.live() = Some(Override { limit, until });
        info!(%limit, for_secs = duration.map(|d| d.as_secs()), "live bandwidth limit set");
        self.inner.changed.notify_one();
        self.apply()
    }

    /// The limit in force now.
    pub fn now(&self) -> Now {
        let (week_secs, into_second) = self.inner.clock.week_time();
        let scheduled = self.inner.schedule.at(week_secs);
        let scheduled_source = match self.inner.schedule {
            Schedule::Fixed(_) => Source::Config,
            Schedule::Timetable(_) => Source::Timetable,
        };
        let live = {
            let mut live = self.live();
            if live.is_some_and(|o| o.until.is_some_and(|u| u <= Instant::now())) {
                *live = None;
            }
            *live
        };
        match live {
            Some(o) => Now {
                limit: o.limit,
                source: Source::Override,
                next: o.until.map(|until| {
                    let ahead = until.saturating_duration_since(Instant::now());
                    (
                        SystemTime::now() + ahead,
                        self.scheduled_in(week_secs, ahead + into_second),
                    )
                }),
            },
            None => Now {
                limit: scheduled.limit,
                source: scheduled_source,
                next: scheduled.changes_in.map(|changes_in| {
                    let ahead = changes_in.saturating_sub(into_second);
                    (
                        SystemTime::now() + ahead,
                        self.scheduled_in(week_secs, changes_in),
                    )
                }),
            },
        }
    }

    /// What the schedule puts in force `ahead` after the whole second
    /// `week_secs` (a part of a second counts as a whole one).
    fn scheduled_in(&self, week_secs: u32, ahead: Duration) -> Limit {
        let ahead = ahead.as_secs() + u64::from(ahead.subsec_nanos() > 0);
        let at = (u64::from(week_secs) + ahead) % u64::from(WEEK_SECS);
        self.inner.schedule.at(at as u32).limit
    }

    /// Puts the limit in force now on the shared buckets.
    fn apply(&self) -> Now {
        let now = self.now();
        set_rates(&self.inner.shared, now.limit);
        now
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Option<Override>> {
        self.inner.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the limit when the timetable or a live limit says so, until
    /// `cancel` fires; each change of the limit in force is an event.
    pub fn spawn(
        &self,
        cancel: CancellationToken,
        events: crate::events::EventBus,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            // The limit at start is no change.
            let mut in_force: Option<Limit> = None;
            loop {
                let now = this.apply();
                if in_force.is_some_and(|was| was != now.limit) {
                    events
                        .limit_changed(
                            now.limit.up.map(|r| r.bytes_per_second()),
                            now.limit.down.map(|r| r.bytes_per_second()),
                        )
                        .await;
                }
                in_force = Some(now.limit);
                let wait = now.next.map(|(at, _)| {
                    // A moment past the change, so the next look sees it.
                    at.duration_since(SystemTime::now()).unwrap_or_default()
                        + Duration::from_millis(20)
                });
                let timer = async {
                    match wait {
                        Some(wait) => tokio::time::sleep(wait).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = this.inner.changed.notified() => {}
                    () = timer => {
                        let now = this.now();
                        info!(limit = %now.limit, source = now.source.as_str(), "bandwidth limit changed");
                    }
                }
            }
        })
    }
}

fn set_rates(buckets: &Buckets, limit: Limit) {
    buckets.set(
        limit.up.map(|r| r.bytes_per_second()),
        limit.down.map(|r| r.bytes_per_second()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock_at(text: &str) -> WeekClock {
        WeekClock::StartingAt {
            start: NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").unwrap(),
            since: Instant::now(),
        }
    }

    #[test]
    fn a_live_limit_overrides_the_timetable_until_it_lapses() {
        let schedule = Schedule::parse("08:00,1M 18:00,off").unwrap();
        // 2026-12-07 is a Monday.
        let bandwidth = Bandwidth::new(schedule, clock_at("2026-12-07T07:59:00"));
        let now = bandwidth.now();
        assert_eq!((now.limit, now.source), (Limit::OFF, Source::Timetable));
        let (at, next) = now.next.unwrap();
        assert_eq!(next, Limit::parse("1M").unwrap());
        let secs = at.duration_since(SystemTime::now()).unwrap().as_secs();
        assert!((58..=60).contains(&secs), "{secs}");
        let live = bandwidth.set_live(Limit::parse("4M").unwrap(), Some(Duration::from_secs(3600)));
        assert_eq!(live.source, Source::Override);
        assert_eq!(
            live.next.unwrap().1,
            Limit::parse("1M").unwrap(),
            "what follows"
        );
        assert_eq!(
            bandwidth.inner.shared.rates(),
            (Some(4 << 20), Some(4 << 20))
        );
        let lapsed = bandwidth.set_live(Limit::OFF, Some(Duration::ZERO));
        assert_eq!(lapsed.source, Source::Timetable);
    }
}
