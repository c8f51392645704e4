//! Bandwidth limits as the user writes them (`sync.bandwidth`, `remotes add
//! --limit`, `syncroll limit`): rates, upload:download pairs and weekly
//! timetables in rclone's `--bwlimit` form, and the pure rule for which
//! limit a timetable puts in force at a moment and when it changes next.
//!
//! Nothing here measures or waits: the daemon reads the clock and the remote
//! crate's throttle enforces the rates.

use std::fmt;
use std::num::NonZeroU64;
use std::time::Duration;

use crate::quoted::quoted;

/// Seconds in a week, the cycle of every timetable.
pub const WEEK_SECS: u32 = 7 * 24 * 3600;

const DAY_SECS: u32 = 24 * 3600;
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// A bandwidth value that cannot be read, naming it and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid bandwidth {}: {reason}", quoted(.value))]
pub struct BandwidthError {
    pub value: String,
    pub reason: String,
}

impl BandwidthError {
    fn new(value: &str, reason: impl Into<String>) -> Self {
        Self {
            value: value.to_owned(),
            reason: reason.into(),
        }
    }

    /// The message with the setting it came from: `invalid bandwidth "8Q"
    /// in sync.bandwidth: ...`.
    pub fn in_setting(&self, setting: &str) -> String {
        format!(
            "invalid bandwidth {} in {setting}: {}",
            quoted(&self.value),
            self.reason
        )
    }
}

/// Bytes per second, above 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(NonZeroU64);

impl Rate {
    /// `bytes` per second; `None` for 0.
    pub fn new(bytes_per_second: u64) -> Option<Self> {
        NonZeroU64::new(bytes_per_second).map(Self)
    }

    pub fn bytes_per_second(self) -> u64 {
        self.0.get()
    }
}

/// Shown as rclone writes it: a whole number of the largest binary unit that
/// divides it (`4M`, `512k`), else bytes (`1500B`).
impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.bytes_per_second();
        for (unit, size) in [
            ("T", 1u64 << 40),
            ("G", 1 << 30),
            ("M", 1 << 20),
            ("k", 1 << 10),
        ] {
            if bytes.is_multiple_of(size) {
                return write!(f, "{}{unit}", bytes / size);
            }
        }
        write!(f, "{bytes}B")
    }
}

/// The limits of the two directions; `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Limit {
    pub up: Option<Rate>,
    pub down: Option<Rate>,
}

impl Limit {
    /// No limit either way.
    pub const OFF: Self = Self {
        up: None,
        down: None,
    };

    /// A rate or `off` (the same both ways), or `UP:DOWN` as rclone's
    /// `--bwlimit 10M:1M`.
    pub fn parse(value: &str) -> Result<Self, BandwidthError> {
        let text = value.trim();
        match text.split_once(':') {
            Some((up, down)) => Ok(Self {
                up: parse_rate(value, up)?,
                down: parse_rate(value, down)?,
            }),
            None => {
                let rate = parse_rate(value, text)?;
                Ok(Self {
                    up: rate,
                    down: rate,
                })
            }
        }
    }

    pub fn is_off(&self) -> bool {
        self.up.is_none() && self.down.is_none()
    }
}

/// `off`, `4M`, or `4M:1M` when the directions differ.
impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |rate: Option<Rate>| rate.map_or_else(|| "off".to_owned(), |r| r.to_string());
        if self.up == self.down {
            f.write_str(&side(self.up))
        } else {
            write!(f, "{}:{}", side(self.up), side(self.down))
        }
    }
}

/// One rate as rclone reads it: a number (decimals allowed) with an
/// optional binary unit, `B`, `k`, `M`, `G` or `T` (any case); a bare
/// number is KiB/s, as in rclone. `off` is no limit.
fn parse_rate(whole: &str, text: &str) -> Result<Option<Rate>, BandwidthError> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let bad = |reason: &str| BandwidthError::new(whole, reason);
    let (number, unit) = match text.char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => (&text[..at], c.to_ascii_lowercase()),
        _ => (text, 'k'),
    };
    let shift = match unit {
        'b' => 0,
        'k' => 10,
        'm' => 20,
        'g' => 30,
        't' => 40,
        _ => {
            return Err(bad(
                "use a rate with an optional unit (512k, 8M, 1G; binary units, KiB/s without one) or \"off\"",
            ));
        }
    };
    let ok_number = !number.is_empty() && number.chars().all(|c| c.is_ascii_digit() || c == '.');
    let amount: f64 = match number.parse() {
        Ok(amount) if ok_number => amount,
        _ => {
            return Err(bad(
                "use a rate with an optional unit (512k, 8M, 1G; binary units, KiB/s without one) or \"off\"",
            ));
        }
    };
    let bytes = amount * (1u64 << shift) as f64;
    if bytes >= 1.0 && bytes < u64::MAX as f64 {
        Ok(Rate::new(bytes.round() as u64))
    } else if bytes < 1.0 {
        Err(bad(
            "a rate must be at least 1 byte per second; \"off\" lifts the limit",
        ))
    } else {
        Err(bad("the rate is too large"))
    }
}

/// A limit that may change with the time of the week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    Fixed(Limit),
    Timetable(Timetable),
}

impl Default for Schedule {
    fn default() -> Self {
        Self::Fixed(Limit::OFF)
    }
}

/// Which limit is in force at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InForce {
    pub limit: Limit,
    /// How long until a different limit takes over; `None`: never.
    pub changes_in: Option<Duration>,
}

impl Schedule {
    /// A limit (see [`Limit::parse`]) or a timetable (see
    /// [`Timetable::parse`]): a value with a time in it is a timetable.
    pub fn parse(value: &str) -> Result<Self, BandwidthError> {
        let text = value.trim();
        let starts_with_day = text
            .get(..3)
            .is_some_and(|d| DAYS.iter().any(|day| day.eq_ignore_ascii_case(d)));
        if text.contains(',') || text.contains(' ') || starts_with_day {
            Timetable::parse(value).map(Self::Timetable)
        } else {
            Limit::parse(value).map(Self::Fixed)
        }
    }

    /// The limit in force at `at`, seconds into the week (Monday 00:00 is
    /// 0, local time), and when it changes.
    pub fn at(&self, at: u32) -> InForce {
        match self {
            Self::Fixed(limit) => InForce {
                limit: *limit,
                changes_in: None,
            },
            Self::Timetable(table) => table.at(at),
        }
    }
}

/// Entries, each a limit from its time of the week on until the next entry's
/// (the last of the week runs on into the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timetable {
    /// (seconds into the week, limit), sorted, at least one, no two at the
    /// same second.
    entries: Vec<(u32, Limit)>,
}

impl Timetable {
    /// rclone's `--bwlimit` timetable: space-separated `HH:MM,LIMIT` entries
    /// (every day), `Day-HH:MM,LIMIT` entries (that day), and day tokens
    /// (`Mon`, `Mon-Fri`, `Sat-Sun`) that make the entries after them hold
    /// on those days only: `"Mon-Fri 08:00,2M 18:00,off"`.
    pub fn parse(value: &str) -> Result<Self, BandwidthError> {
        let mut days: Vec<u32> = (0..7).collect();
        let mut entries: Vec<(u32, Limit)> = Vec::new();
        for token in value.split_whitespace() {
            let Some((when, limit)) = token.split_once(',') else {
                days = parse_days(value, token)?;
                continue;
            };
            let limit = Limit::parse(limit).map_err(|e| BandwidthError::new(value, e.reason))?;
            let (token_days, time) = match when.split_once('-') {
                Some((day, time)) => (vec![parse_day(value, day)?], time),
                None => (days.clone(), when),
            };
            let secs = parse_time(value, time)?;
            for day in token_days {
                let at = day * DAY_SECS + secs;
                if entries.iter().any(|(t, _)| *t == at) {
                    return Err(BandwidthError::new(
                        value,
                        format!("two entries for {} {time}", DAYS[day as usize]),
                    ));
                }
                entries.push((at, limit));
            }
        }
        if entries.is_empty() {
            return Err(BandwidthError::new(
                value,
                "a timetable needs at least one HH:MM,RATE entry (\"08:00,512k 23:00,off\")",
            ));
        }
        entries.sort_by_key(|(t, _)| *t);
        Ok(Self { entries })
    }

    /// See [`Schedule::at`].
    pub fn at(&self, at: u32) -> InForce {
        let at = at % WEEK_SECS;
        // The last entry at or before `at`, else the week's last (it runs on
        // over the week's end).
        let current = self.entries.iter().rposition(|(t, _)| *t <= at);
        let current = current.unwrap_or(self.entries.len() - 1);
        let limit = self.entries[current].1;
        let n = self.entries.len();
        let changes_in = (1..=n)
            .map(|step| self.entries[(current + step) % n])
            .find(|(_, other)| *other != limit)
            .map(|(t, _)| {
                let ahead = (t + WEEK_SECS - at) % WEEK_SECS;
                Duration::from_secs(u64::from(if ahead == 0 { WEEK_SECS } else { ahead }))
            });
        InForce { limit, changes_in }
    }
}

fn parse_day(value: &str, text: &str) -> Result<u32, BandwidthError> {
    DAYS.iter()
        .position(|d| d.eq_ignore_ascii_case(text))
        .map(|d| d as u32)
        .ok_or_else(|| {
            BandwidthError::new(
                value,
                format!(
                    "{} is not a day: use Mon, Tue, Wed, Thu, Fri, Sat or Sun",
                    quoted(text)
                ),
            )
        })
}

/// `Mon` or a range `Mon-Fri` (which may wrap: `Fri-Mon`).
fn parse_days(value: &str, token: &str) -> Result<Vec<u32>, BandwidthError> {
    match token.split_once('-') {
        Some((from, to)) => {
            let (from, to) = (parse_day(value, from)?, parse_day(value, to)?);
            let len = (to + 7 - from) % 7 + 1;
            Ok((0..len).map(|i| (from + i) % 7).collect())
        }
        None => Ok(vec![parse_day(value, token)?]),
    }
}

/// `HH:MM`, 00:00 to 23:59, as seconds into the day.
fn parse_time(value: &str, text: &str) -> Result<u32, BandwidthError> {
    let bad = || {
        BandwidthError::new(
            value,
            format!(
                "{} is not a time of day: use HH:MM, 00:00 to 23:59",
                quoted(text)
            ),
        )
    };
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || !digits(m) {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 3600 + m * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: u64 = 1024;
    const M: u64 = 1024 * 1024;

    fn rate(bytes: u64) -> Option<Rate> {
        Rate::new(bytes)
    }

    fn both(bytes: u64) -> Limit {
        Limit {
            up: rate(bytes),
            down: rate(bytes),
        }
    }

    fn week(day: u32, h: u32, m: u32) -> u32 {
        day * DAY_SECS + h * 3600 + m * 60
    }

    #[test]
    fn rates_read_as_rclone_reads_them() {
        assert_eq!(Limit::parse("8M").unwrap(), both(8 * M));
        assert_eq!(Limit::parse("512k").unwrap(), both(512 * K));
        assert_eq!(Limit::parse("512K").unwrap(), both(512 * K));
        assert_eq!(Limit::parse("1G").unwrap(), both(1 << 30));
        assert_eq!(Limit::parse("1.5M").unwrap(), both(3 * M / 2));
        assert_eq!(Limit::parse("100").unwrap(), both(100 * K), "bare is KiB/s");
        assert_eq!(Limit::parse("100B").unwrap(), both(100));
        assert_eq!(Limit::parse("off").unwrap(), Limit::OFF);
        assert_eq!(Limit::parse(" OFF ").unwrap(), Limit::OFF);
    }

    #[test]
    fn up_and_down_are_set_apart_with_a_colon() {
        let limit = Limit::parse("10M:1M").unwrap();
        assert_eq!((limit.up, limit.down), (rate(10 * M), rate(M)));
        let limit = Limit::parse("off:512k").unwrap();
        assert_eq!((limit.up, limit.down), (None, rate(512 * K)));
        assert_eq!(limit.to_string(), "off:512k");
        assert_eq!(both(4 * M).to_string(), "4M");
        assert_eq!(both(1500).to_string(), "1500B");
        assert_eq!(Limit::OFF.to_string(), "off");
    }

    #[test]
    fn bad_rates_name_the_value() {
        for bad in [
            "8Q", "", "M", "-1M", "1..5M", "0", "0.0001B", "1M:2M:3M", "8 M",
        ] {
            let err = Schedule::parse(bad).unwrap_err();
            assert_eq!(err.value, bad, "{bad}: {err}");
        }
        let err = Limit::parse("8Q").unwrap_err();
        assert_eq!(
            err.in_setting("sync.bandwidth"),
            "invalid bandwidth \"8Q\" in sync.bandwidth: use a rate with an optional unit \
             (512k, 8M, 1G; binary units, KiB/s without one) or \"off\""
        );
    }

    #[test]
    fn a_daily_timetable_wraps_over_midnight() {
        let table = Schedule::parse("08:00,512k 23:00,off").unwrap();
        let at_nine = table.at(week(2, 9, 0));
        assert_eq!(at_nine.limit, both(512 * K));
        assert_eq!(at_nine.changes_in, Some(Duration::from_secs(14 * 3600)));
        let at_three = table.at(week(2, 3, 0));
        assert_eq!(at_three.limit, Limit::OFF, "yesterday's 23:00 still holds");
        assert_eq!(at_three.changes_in, Some(Duration::from_secs(5 * 3600)));
        // Monday 03:00 takes Sunday's 23:00 entry, over the week's end.
        assert_eq!(table.at(week(0, 3, 0)).limit, Limit::OFF);
        assert_eq!(
            table.at(week(0, 8, 0)).limit,
            both(512 * K),
            "at the minute"
        );
    }

    #[test]
    fn day_tokens_scope_the_entries_after_them() {
        let table = Schedule::parse("Mon-Fri 08:00,2M 18:00,off").unwrap();
        assert_eq!(table.at(week(4, 12, 0)).limit, both(2 * M));
        let friday_night = table.at(week(4, 19, 0));
        assert_eq!(friday_night.limit, Limit::OFF);
        // Off from Friday 18:00 until Monday 08:00.
        assert_eq!(
            friday_night.changes_in,
            Some(Duration::from_secs(u64::from(
                week(7, 8, 0) - week(4, 19, 0)
            )))
        );
        assert_eq!(table.at(week(5, 12, 0)).limit, Limit::OFF, "Saturday");
    }

    #[test]
    fn rclone_weekly_entries_and_up_down_pairs_mix() {
        let table = Schedule::parse("Mon-10:00,2M Sun-20:00,10M:1M").unwrap();
        let sunday = table.at(week(6, 21, 0)).limit;
        assert_eq!((sunday.up, sunday.down), (rate(10 * M), rate(M)));
        assert_eq!(table.at(week(3, 0, 0)).limit, both(2 * M));
    }

    #[test]
    fn a_timetable_of_one_limit_never_changes() {
        let table = Schedule::parse("08:00,1M 20:00,1M").unwrap();
        assert_eq!(table.at(0).changes_in, None);
        assert_eq!(Schedule::parse("4M").unwrap().at(0).changes_in, None);
    }

    #[test]
    fn bad_timetables_name_the_value_and_the_fault() {
        let cases = [
            ("25:00,1M", "not a time of day"),
            ("08:00,8Q", "use a rate"),
            ("Mon-Fry 08:00,1M", "not a day"),
            ("Mon 08:00,1M Mon-08:00,2M", "two entries for Mon 08:00"),
            ("Mon-Fri", "at least one"),
            ("8:0x,1M", "not a time of day"),
        ];
        for (value, fault) in cases {
            let err = Schedule::parse(value).unwrap_err();
            assert_eq!(err.value, value);
            assert!(err.reason.contains(fault), "{value}: {err}");
        }
    }
}
