//! [`TrayModel`]: what the tray shows, computed from the daemon's state
//! alone: the icon, the item's status, the tooltip and the menu, as plain
//! data ([`TrayView`]). No D-Bus here; a platform module draws the view.

use std::fmt::Write as _;
use std::path::PathBuf;

use chrono::{DateTime, Local, TimeZone};
use syncroll_client::SyncState;

use crate::snapshot::{CollectionView, Snapshot};

/// The tray's state: the daemon's last snapshot, or none while it cannot
/// be reached.
#[derive(Debug, Clone, Default)]
pub struct TrayModel {
    snapshot: Option<Snapshot>,
    /// The last data dir the daemon named, so "Open log" works while it is
    /// down (when its log says why).
    data_dir: Option<PathBuf>,
}

/// The icon, one per state, in the order one wins over the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayIcon {
    /// The daemon cannot be reached.
    NotRunning,
    /// A failed job, held deletions, a conflict or a missing root wait for
    /// the user; shown even while syncing or paused, since they outlast
    /// both.
    Attention,
    Paused,
    /// With the share of photos synced, when known.
    Syncing {
        percent: Option<u8>,
    },
    Idle,
}

impl TrayIcon {
    /// The freedesktop icon name (Icon Naming Specification, so every
    /// theme has one).
    pub fn icon_name(self) -> &'static str {
        match self {
            Self::NotRunning => "process-stop",
            Self::Attention => "dialog-warning",
            Self::Paused => "media-playback-pause",
            Self::Syncing { .. } => "view-refresh",
            Self::Idle => "emblem-synchronized",
        }
    }

    /// How much the item asks to be seen (the StatusNotifierItem's
    /// `Status`).
    pub fn status(self) -> ItemStatus {
        match self {
            Self::Attention => ItemStatus::NeedsAttention,
            // Idle needs no look; hosts may tuck a passive item away.
            Self::Idle => ItemStatus::Passive,
            Self::NotRunning | Self::Paused | Self::Syncing { .. } => ItemStatus::Active,
        }
    }

    /// The state in a few words: the tooltip's title and the menu's first
    /// line.
    pub fn headline(self) -> String {
        match self {
            Self::NotRunning => "syncrolld is not running".to_owned(),
            Self::Attention => "syncroll needs attention".to_owned(),
            Self::Paused => "syncroll is paused".to_owned(),
            Self::Syncing { percent: Some(p) } => format!("syncroll is syncing ({p}%)"),
            Self::Syncing { percent: None } => "syncroll is syncing".to_owned(),
            Self::Idle => "syncroll is idle: everything is synced".to_owned(),
        }
    }
}

/// The StatusNotifierItem's status, as the spec names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemStatus {
    Passive,
    Active,
    NeedsAttention,
}

/// The tooltip: a title and lines of detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tooltip {
    pub title: String,
    pub body: String,
}

/// What a menu entry does when activated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    PauseForAnHour,
    /// Until the next local 08:00 ([`crate::schedule::until_morning`]).
    PauseUntilMorning,
    PauseUntilResumed,
    Resume,
    PauseCollection(String),
    ResumeCollection(String),
    /// A terminal running `syncroll holds`.
    ReviewHolds,
    /// A terminal running `syncroll conflicts`.
    ReviewConflicts,
    OpenLog,
    Quit,
}

impl Action {
    /// What the action does, in words, for a notice that it failed.
    pub fn describe(&self) -> String {
        match self {
            Self::PauseForAnHour => labels::PAUSE_HOUR.to_owned(),
            Self::PauseUntilMorning => labels::PAUSE_MORNING.to_owned(),
            Self::PauseUntilResumed => labels::PAUSE_RESUMED.to_owned(),
            Self::Resume => labels::RESUME.to_owned(),
            Self::PauseCollection(name) => format!("Pause {name}"),
            Self::ResumeCollection(name) => format!("Resume {name}"),
            Self::ReviewHolds => "Review held deletions".to_owned(),
            Self::ReviewConflicts => "Review conflicts".to_owned(),
            Self::OpenLog => labels::OPEN_LOG.to_owned(),
            Self::Quit => labels::QUIT.to_owned(),
        }
    }
}

/// One menu entry. An entry without an action is shown greyed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuEntry {
    Item {
        label: String,
        action: Option<Action>,
    },
    Toggle {
        label: String,
        checked: bool,
        action: Action,
    },
    Submenu {
        label: String,
        entries: Vec<MenuEntry>,
    },
    Separator,
}

/// Everything a platform draws.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayView {
    pub icon: TrayIcon,
    pub status: ItemStatus,
    pub tooltip: Tooltip,
    pub menu: Vec<MenuEntry>,
}

/// The menu labels tests and docs refer to.
pub mod labels {
    pub const PAUSE_HOUR: &str = "Pause for 1 hour";
    pub const PAUSE_MORNING: &str = "Pause until tomorrow 08:00";
    pub const PAUSE_RESUMED: &str = "Pause until resumed";
    pub const RESUME: &str = "Resume";
    pub const OPEN_LOG: &str = "Open log";
    pub const QUIT: &str = "Quit";
}

impl TrayModel {
    /// The daemon answered with `snapshot`.
    pub fn connected(&mut self, snapshot: Snapshot) {
        self.data_dir = Some(snapshot.data_dir.clone());
        self.snapshot = Some(snapshot);
    }

    /// The daemon cannot be reached.
    pub fn disconnected(&mut self) {
        self.snapshot = None;
    }

    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// The daemon's data dir, as last named.
    pub fn data_dir(&self) -> Option<&PathBuf> {
        self.data_dir.as_ref()
    }

    pub fn icon(&self) -> TrayIcon {
        let Some(snapshot) = &self.snapshot else {
            return TrayIcon::NotRunning;
        };
        if snapshot.needs_attention() {
            return TrayIcon::Attention;
        }
        match snapshot.sync {
            SyncState::Paused { .. } => TrayIcon::Paused,
            SyncState::Syncing => TrayIcon::Syncing {
                percent: snapshot.percent_synced(),
            },
            SyncState::Idle => TrayIcon::Idle,
        }
    }

    /// The whole view; `tz` is the zone pause times are shown in.
    pub fn view<Tz: TimeZone>(&self, tz: &Tz) -> TrayView
    where
        Tz::Offset: std::fmt::Display,
    {
        let icon = self.icon();
        TrayView {
            icon,
            status: icon.status(),
            tooltip: Tooltip {
                title: icon.headline(),
                body: self.snapshot.as_ref().map_or_else(
                    || "Start it with: systemctl --user start syncrolld".to_owned(),
                    |s| tooltip_body(s, tz),
                ),
            },
            menu: self.menu(icon),
        }
    }

    /// [`Self::view`] in the local time zone.
    pub fn local_view(&self) -> TrayView {
        self.view(&Local)
    }

    fn menu(&self, icon: TrayIcon) -> Vec<MenuEntry> {
        let connected = self.snapshot.as_ref();
        let paused = matches!(connected.map(|s| s.sync), Some(SyncState::Paused { .. }));
        let when_connected = |action| connected.map(|_| action);
        let mut menu = vec![
            item(icon.headline(), None),
            MenuEntry::Separator,
            item(labels::PAUSE_HOUR, when_connected(Action::PauseForAnHour)),
            item(
                labels::PAUSE_MORNING,
                when_connected(Action::PauseUntilMorning),
            ),
            item(
                labels::PAUSE_RESUMED,
                when_connected(Action::PauseUntilResumed),
            ),
            item(labels::RESUME, paused.then_some(Action::Resume)),
        ];
        if let Some(snapshot) = connected {
            menu.extend(collection_entries(snapshot));
            menu.push(MenuEntry::Separator);
            menu.push(item(
                format!("Held deletions: {}", snapshot.held_deletions),
                (snapshot.held_deletions > 0).then_some(Action::ReviewHolds),
            ));
            menu.push(item(
                format!("Conflicts: {}", snapshot.conflicts),
                (snapshot.conflicts > 0).then_some(Action::ReviewConflicts),
            ));
        }
        menu.push(MenuEntry::Separator);
        menu.push(item(
            labels::OPEN_LOG,
            self.data_dir.as_ref().map(|_| Action::OpenLog),
        ));
        menu.push(item(labels::QUIT, Some(Action::Quit)));
        menu
    }
}

fn item(label: impl Into<String>, action: Option<Action>) -> MenuEntry {
    MenuEntry::Item {
        label: label.into(),
        action,
    }
}

/// The most collections the menu lists: a library of hundreds would make
/// a menu taller than the screen, sent over D-Bus again whenever a count
/// changes (every refresh while syncing).
pub const MENU_COLLECTIONS: usize = 20;

/// A separator, then one submenu per collection: its progress as the
/// label, a pause toggle inside. Past [`MENU_COLLECTIONS`], those busy or
/// paused come first (in the daemon's order) and a last entry counts the
/// rest.
fn collection_entries(snapshot: &Snapshot) -> Vec<MenuEntry> {
    if snapshot.collections.is_empty() {
        return Vec::new();
    }
    let notable = |c: &&CollectionView| c.paused || c.pending_jobs > 0;
    let all = &snapshot.collections;
    let mut shown: Vec<&CollectionView> = all.iter().filter(notable).collect();
    shown.extend(all.iter().filter(|c| !notable(c)));
    shown.truncate(MENU_COLLECTIONS);
    // Back in the daemon's order, so entries do not jump as work moves.
    shown.sort_by_key(|shown| all.iter().position(|c| std::ptr::eq(c, *shown)));
    let mut entries = vec![MenuEntry::Separator];
    entries.extend(shown.into_iter().map(|c| {
        let state = if !c.sync_enabled {
            "not synced".to_owned()
        } else if c.paused {
            format!("paused, {} of {} synced", c.synced, c.photos)
        } else {
            format!("{} of {} synced", c.synced, c.photos)
        };
        let action = if c.paused {
            Action::ResumeCollection(c.name.clone())
        } else {
            Action::PauseCollection(c.name.clone())
        };
        MenuEntry::Submenu {
            label: format!("{}: {state}", c.name),
            entries: vec![MenuEntry::Toggle {
                label: "Paused".to_owned(),
                checked: c.paused,
                action,
            }],
        }
    }));
    let hidden = all.len().saturating_sub(MENU_COLLECTIONS);
    if hidden > 0 {
        entries.push(item(format!("and {hidden} more (syncroll status)"), None));
    }
    entries
}

/// The tooltip's lines: counts, what waits for the user, the rate and ETA
/// while syncing, the pause's end, the bandwidth limit.
fn tooltip_body<Tz: TimeZone>(snapshot: &Snapshot, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let mut lines = vec![format!(
        "{} queued, {} running, {} failed",
        snapshot.queued, snapshot.running, snapshot.failed
    )];
    if snapshot.held_deletions > 0 {
        lines.push(format!("Held deletions: {}", snapshot.held_deletions));
    }
    if snapshot.conflicts > 0 {
        lines.push(format!("Conflicts: {}", snapshot.conflicts));
    }
    for root in &snapshot.missing_roots {
        lines.push(format!("Missing root: {}", root.display()));
    }
    match snapshot.sync {
        SyncState::Syncing => lines.push(progress_line(snapshot)),
        SyncState::Paused { until: Some(until) } => {
            lines.push(format!("Paused until {}", clock(until, tz)));
        }
        SyncState::Paused { until: None } => lines.push("Paused until resumed".to_owned()),
        SyncState::Idle => {}
    }
    let limit = match &snapshot.limit {
        Some(limit) => format!("Bandwidth limit: {limit}"),
        None => "No bandwidth limit".to_owned(),
    };
    match &snapshot.limit_change {
        Some(change) => lines.push(format!(
            "{limit} until {}, then {}",
            clock(change.at_unix_seconds, tz),
            change.to
        )),
        None if snapshot.limit.is_some() => lines.push(limit),
        None => {}
    }
    lines.join("\n")
}

fn progress_line(snapshot: &Snapshot) -> String {
    let mut line = format!("{}/s", bytes(snapshot.rate_bytes_per_second));
    if let Some(eta) = snapshot.eta_seconds {
        let _ = write!(line, ", about {} left", duration(eta));
    }
    line
}

/// A Unix second as the local wall clock: "14:05", or "Tue 14:05" when
/// not today.
fn clock<Tz: TimeZone>(unix_seconds: i64, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let Some(at) = DateTime::from_timestamp(unix_seconds, 0) else {
        return unix_seconds.to_string();
    };
    let at = at.with_timezone(tz);
    let today = chrono::Utc::now().with_timezone(tz).date_naive();
    if at.date_naive() == today {
        at.format("%H:%M").to_string()
    } else {
        at.format("%a %H:%M").to_string()
    }
}

/// Bytes in binary units, one decimal: "1.5 MiB".
fn bytes(value: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = value.max(0.0);
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Whole seconds as "45 s", "12 min", "2 h 5 min".
fn duration(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds.div_ceil(60)),
        _ => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::snapshot::tests::idle;

    fn model(snapshot: Snapshot) -> TrayModel {
        let mut model = TrayModel::default();
        model.connected(snapshot);
        model
    }

    fn syncing() -> Snapshot {
        let mut s = idle();
        s.sync = SyncState::Syncing;
        s.queued = 3;
        s.running = 1;
        s.collections[0].synced = 10;
        s.rate_bytes_per_second = 1.5 * 1024.0 * 1024.0;
        s.eta_seconds = Some(150);
        s.limit = Some("4M".to_owned());
        s
    }

    #[test]
    fn each_state_has_its_icon_and_status() {
        let mut paused = idle();
        paused.sync = SyncState::Paused { until: None };
        let mut failed = syncing();
        failed.failed = 1;
        let mut missing = idle();
        missing.missing_roots.push(PathBuf::from("/mnt/photos"));
        let mut held = paused.clone();
        held.held_deletions = 80;
        let cases = [
            (
                TrayModel::default(),
                TrayIcon::NotRunning,
                ItemStatus::Active,
            ),
            (model(idle()), TrayIcon::Idle, ItemStatus::Passive),
            (
                model(syncing()),
                TrayIcon::Syncing { percent: Some(25) },
                ItemStatus::Active,
            ),
            (model(paused), TrayIcon::Paused, ItemStatus::Active),
            (
                model(failed),
                TrayIcon::Attention,
                ItemStatus::NeedsAttention,
            ),
            (
                model(missing),
                TrayIcon::Attention,
                ItemStatus::NeedsAttention,
            ),
            (model(held), TrayIcon::Attention, ItemStatus::NeedsAttention),
        ];
        for (model, icon, status) in cases {
            let view = model.view(&Utc);
            assert_eq!(view.icon, icon, "{model:?}");
            assert_eq!(view.status, status, "{model:?}");
        }
    }

    #[test]
    fn losing_the_daemon_shows_not_running_and_keeps_the_log_entry() {
        let mut model = model(idle());
        model.disconnected();
        let view = model.view(&Utc);
        assert_eq!(view.icon, TrayIcon::NotRunning);
        assert_eq!(view.tooltip.title, "syncrolld is not running");
        assert!(
            view.menu
                .contains(&item(labels::OPEN_LOG, Some(Action::OpenLog)))
        );
        assert!(view.menu.contains(&item(labels::PAUSE_HOUR, None)));
    }

    #[test]
    fn the_tooltip_tells_when_the_limit_changes_next() {
        // Now: shown as a time of today (the day is added only for another).
        let at = Utc::now().timestamp();
        let hhmm = DateTime::from_timestamp(at, 0).unwrap().format("%H:%M");
        let mut s = syncing();
        s.limit_change = Some(crate::snapshot::LimitChange {
            at_unix_seconds: at,
            to: "off".to_owned(),
        });
        let body = model(s.clone()).view(&Utc).tooltip.body;
        assert!(
            body.ends_with(&format!("\nBandwidth limit: 4M until {hhmm}, then off")),
            "{body}"
        );
        // Unlimited now, a timetable's limit later.
        s.limit = None;
        s.limit_change.as_mut().unwrap().to = "2M".to_owned();
        let body = model(s).view(&Utc).tooltip.body;
        assert!(
            body.ends_with(&format!("\nNo bandwidth limit until {hhmm}, then 2M")),
            "{body}"
        );
    }

    #[test]
    fn the_tooltip_of_a_sync_shows_counts_rate_eta_and_limit() {
        let view = model(syncing()).view(&Utc);
        assert_eq!(view.tooltip.title, "syncroll is syncing (25%)");
        assert_eq!(
            view.tooltip.body,
            "3 queued, 1 running, 0 failed\n1.5 MiB/s, about 3 min left\nBandwidth limit: 4M"
        );
    }

    #[test]
    fn the_tooltip_names_what_needs_attention() {
        let mut s = idle();
        s.failed = 2;
        s.held_deletions = 80;
        s.conflicts = 1;
        s.missing_roots.push(PathBuf::from("/mnt/photos"));
        s.sync = SyncState::Paused { until: None };
        let view = model(s).view(&Utc);
        assert_eq!(view.tooltip.title, "syncroll needs attention");
        assert_eq!(
            view.tooltip.body,
            "0 queued, 0 running, 2 failed\nHeld deletions: 80\nConflicts: 1\n\
             Missing root: /mnt/photos\nPaused until resumed"
        );
    }

    #[test]
    fn a_timed_pause_shows_its_end_on_the_wall_clock() {
        let mut s = idle();
        let until = Utc::now().timestamp() + 60;
        s.sync = SyncState::Paused { until: Some(until) };
        let body = model(s).view(&Utc).tooltip.body;
        let expected = DateTime::from_timestamp(until, 0).unwrap().format("%H:%M");
        // Near midnight the end is tomorrow, shown with its weekday.
        assert!(body.contains("Paused until "), "{body}");
        assert!(body.contains(&expected.to_string()), "{body}");
    }

    #[test]
    fn review_entries_act_only_when_something_waits() {
        let mut s = idle();
        s.held_deletions = 3;
        let menu = model(s).view(&Utc).menu;
        assert!(menu.contains(&item("Held deletions: 3", Some(Action::ReviewHolds))));
        assert!(menu.contains(&item("Conflicts: 0", None)));
        assert!(menu.contains(&item(labels::RESUME, None)));
    }

    #[test]
    fn each_collection_has_a_pause_toggle() {
        let mut s = idle();
        s.collections[0].paused = true;
        let menu = model(s).view(&Utc).menu;
        let expected = MenuEntry::Submenu {
            label: "Trip: paused, 40 of 40 synced".to_owned(),
            entries: vec![MenuEntry::Toggle {
                label: "Paused".to_owned(),
                checked: true,
                action: Action::ResumeCollection("Trip".to_owned()),
            }],
        };
        assert!(menu.contains(&expected), "{menu:#?}");
    }

    #[test]
    fn a_large_library_lists_a_screenful_of_collections_busy_ones_first() {
        let mut s = idle();
        let template = s.collections[0].clone();
        s.collections = (0..500)
            .map(|i| CollectionView {
                name: format!("Shoot {i:03}"),
                ..template.clone()
            })
            .collect();
        s.collections[450].pending_jobs = 3;
        s.collections[499].paused = true;
        let menu = model(s).view(&Utc).menu;
        let labels: Vec<&str> = menu
            .iter()
            .filter_map(|entry| match entry {
                MenuEntry::Submenu { label, .. } => Some(label.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(labels.len(), MENU_COLLECTIONS, "{labels:#?}");
        assert!(labels[0].starts_with("Shoot 000:"), "{labels:#?}");
        assert!(labels[18].starts_with("Shoot 450:"), "{labels:#?}");
        assert!(labels[19].starts_with("Shoot 499:"), "{labels:#?}");
        let more = item("and 480 more (syncroll status)", None);
        assert!(menu.contains(&more), "{menu:#?}");
    }

    #[test]
    fn durations_and_rates_read_as_words() {
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(61), "2 min");
        assert_eq!(duration(7500), "2 h 5 min");
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(4.0 * 1024.0 * 1024.0), "4.0 MiB");
    }
}
