//! When "Pause until tomorrow" ends: the next 08:00 on the local wall
//! clock. 08:00 rather than midnight, since a pause asked for in the
//! evening is meant to last the night (a midnight end would resume
//! uploads while the user sleeps on a metered link). Asked for before
//! 08:00, it ends at 08:00 the same day: "tomorrow" as one means it at
//! 01:00.

use std::time::Duration;

use chrono::{DateTime, Days, NaiveTime, TimeZone};

/// The hour the pause ends.
pub const MORNING: NaiveTime = match NaiveTime::from_hms_opt(8, 0, 0) {
    Some(time) => time,
    None => panic!("08:00 is a time"),
};

/// How long from `now` until the next [`MORNING`] in `now`'s zone. On a
/// day when 08:00 does not exist (a DST jump over it) the first instant
/// after the gap is taken; when it exists twice, the first.
pub fn until_morning<Tz: TimeZone>(now: &DateTime<Tz>) -> Duration {
    let tz = now.timezone();
    let today = now.date_naive();
    let candidates = [
        Some(today),
        today.checked_add_days(Days::new(1)),
        today.checked_add_days(Days::new(2)),
    ];
    candidates
        .into_iter()
        .flatten()
        .filter_map(|day| morning_on(&tz, day))
        .find(|morning| morning > now)
        .and_then(|morning| (morning - now.clone()).to_std().ok())
        // A zone with no 08:00 for two days does not exist; a day is a
        // safe answer that never pauses forever.
        .unwrap_or(Duration::from_secs(24 * 3600))
}

fn morning_on<Tz: TimeZone>(tz: &Tz, day: chrono::NaiveDate) -> Option<DateTime<Tz>> {
    let local = day.and_time(MORNING);
    tz.from_local_datetime(&local).earliest().or_else(|| {
        // Inside a DST gap: an hour later is past it.
        tz.from_local_datetime(&(local + chrono::Duration::hours(1)))
            .earliest()
    })
}

#[cfg(test)]
mod tests {
    use chrono::FixedOffset;

    use super::*;

    fn at(hour: u32, minute: u32) -> DateTime<FixedOffset> {
        FixedOffset::east_opt(2 * 3600)
            .unwrap()
            .with_ymd_and_hms(2026, 3, 14, hour, minute, 0)
            .unwrap()
    }

    #[test]
    fn an_evening_pause_lasts_until_08_00_next_day() {
        assert_eq!(
            until_morning(&at(22, 30)),
            Duration::from_secs(9 * 3600 + 30 * 60)
        );
    }

    #[test]
    fn a_pause_after_midnight_ends_the_same_morning() {
        assert_eq!(until_morning(&at(1, 0)), Duration::from_secs(7 * 3600));
    }

    #[test]
    fn a_pause_at_08_00_lasts_a_whole_day() {
        assert_eq!(until_morning(&at(8, 0)), Duration::from_secs(24 * 3600));
        assert_eq!(
            until_morning(&at(9, 15)),
            Duration::from_secs(22 * 3600 + 45 * 60)
        );
    }
}
