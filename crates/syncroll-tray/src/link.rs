//! [`Link`]: the tray's life with the daemon. It connects (again and
//! again, with a bounded backoff, while the daemon is away), follows the
//! event feed for notices and immediate refreshes, reads the status every
//! [`REFRESH_INTERVAL`] for what events do not carry (counts, rate, ETA),
//! and carries out menu actions.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Local;
use syncroll_client::{Client, ClientError, Event, FeedItem};
use tokio::sync::mpsc;

use crate::launch::{self, LaunchError};
use crate::model::{Action, TrayModel, TrayView};
use crate::notices::{Notice, Notices};
use crate::platform::Platform;
use crate::schedule::until_morning;
use crate::snapshot::Snapshot;

/// How often the status is read while connected.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(2);
/// The least time between two status reads, however fast events come (a
/// burst of failures while a NAS is down), so the tray never loads the
/// daemon with reads.
const MIN_REFRESH_GAP: Duration = Duration::from_millis(500);
/// The first wait before connecting again; it doubles up to
/// [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between two tries: a restarted daemon shows within
/// this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The longest the tray waits for the daemon to answer a request: one
/// that does not answer (stopped, stuck) is treated as gone, so the menu,
/// Quit included, never waits on it for ever.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an action is not done while the daemon is away.
const NOT_RUNNING: &str =
    "syncrolld is not running. Start it with: systemctl --user start syncrolld";

/// Where the feed resumes, so that events are neither missed nor told
/// twice, and none from before the tray started is told at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// Never connected: follow from the feed's current end.
    Unstarted,
    /// First connected at Unix millisecond `since_ms`, and no event from
    /// then on seen yet: on reconnecting, read the daemon's window from
    /// after `last` (from its start when `None`) and tell only the events
    /// from `since_ms` on (those happened while the daemon was away from
    /// us).
    Since { since_ms: i64, last: Option<u64> },
    /// Resume after this sequence number.
    After(u64),
}

impl Cursor {
    /// The `after` to ask the feed for.
    pub fn request(self) -> Option<u64> {
        match self {
            Self::Unstarted => None,
            Self::Since { last, .. } => Some(last.unwrap_or(0)),
            Self::After(seq) => Some(seq),
        }
    }

    /// About to connect at Unix millisecond `now_ms` (taken before the feed
    /// is asked for, so no event of this connection is older).
    pub fn connecting(self, now_ms: i64) -> Self {
        match self {
            Self::Unstarted => Self::Since {
                since_ms: now_ms,
                last: None,
            },
            other => other,
        }
    }

    /// Moves past `event`; returns whether it is new to the user (worth a
    /// notice).
    pub fn advance(&mut self, event: &Event) -> bool {
        match *self {
            Self::Since { since_ms, .. } if event.at_ms < since_ms => {
                *self = Self::Since {
                    since_ms,
                    last: Some(event.seq),
                };
                false
            }
            _ => {
                *self = Self::After(event.seq);
                true
            }
        }
    }
}

/// Why a session with the daemon ended.
#[derive(Debug)]
enum End {
    Quit,
    Lost(ClientError),
    /// The daemon ended the feed: it is stopping.
    FeedEnded,
}

/// How one turn of a session ends.
#[derive(Debug)]
enum Turn {
    /// Go on, after reading the status.
    Refresh,
    Quit,
    End(End),
}

/// One item of the feed, or why it broke.
type FeedResult = Result<FeedItem, ClientError>;

/// Why a menu action failed.
#[derive(Debug, thiserror::Error)]
enum ActionError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Launch(#[from] LaunchError),
    #[error("the daemon's data dir is not known yet")]
    NoDataDir,
}

/// The tray's state and its connections.
#[derive(Debug)]
pub struct Link<P> {
    socket: PathBuf,
    platform: P,
    actions: mpsc::UnboundedReceiver<Action>,
    model: TrayModel,
    notices: Notices,
    cursor: Cursor,
    shown: Option<TrayView>,
    /// [`RPC_TIMEOUT`]; shorter in tests.
    rpc_timeout: Duration,
}

impl<P: Platform> Link<P> {
    pub fn new(socket: PathBuf, platform: P, actions: mpsc::UnboundedReceiver<Action>) -> Self {
        Self {
            socket,
            platform,
            actions,
            model: TrayModel::default(),
            notices: Notices::default(),
            cursor: Cursor::Unstarted,
            shown: None,
            rpc_timeout: RPC_TIMEOUT,
        }
    }

    /// `request`'s answer, or [`ClientError::Unreachable`] if none comes
    /// within the timeout.
    async fn answered<T, E: From<ClientError>>(
        &self,
        request: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        match tokio::time::timeout(self.rpc_timeout, request).await {
            Ok(answer) => answer,
            Err(_) => Err(ClientError::Unreachable {
                socket: self.socket.clone(),
                detail: format!("no answer within {:?}", self.rpc_timeout),
            }
            .into()),
        }
    }

    /// Runs until Quit is chosen, then removes the item.
    pub async fn run(mut self) {
        let mut backoff = MIN_BACKOFF;
        loop {
            let started = Instant::now();
            let end = match self.answered(Client::connect(&self.socket)).await {
                Ok(client) => {
                    tracing::info!(socket = %self.socket.display(), "connected to syncrolld");
                    self.session(&client).await
                }
                Err(error) => End::Lost(error),
            };
            // A session that lasted was a daemon that went away: come back
            // quickly. One that failed at once (a daemon newer than this
            // tray) backs off like a daemon that is not there.
            if started.elapsed() > MAX_BACKOFF {
                backoff = MIN_BACKOFF;
            }
            match end {
                End::Quit => break,
                End::Lost(error @ ClientError::Unreachable { .. }) => {
                    tracing::debug!(%error, "syncrolld is not reachable");
                }
                End::Lost(error) => tracing::warn!(%error, "lost syncrolld"),
                End::FeedEnded => tracing::info!("syncrolld stopped"),
            }
            self.model.disconnected();
            self.show().await;
            if self.wait_to_retry(backoff).await.is_break() {
                break;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        self.platform.shutdown().await;
    }

    /// One connection's life: feed, refreshes and actions until it is lost
    /// or Quit is chosen.
    async fn session(&mut self, client: &Client) -> End {
        let request = self.cursor.request();
        self.cursor = self.cursor.connecting(now_ms());
        let feed = match self.answered(client.watch_events(request)).await {
            Ok(feed) => feed,
            Err(error) => return End::Lost(error),
        };
        let (tx, mut items) = mpsc::channel(64);
        let forwarder = AbortOnDrop(tokio::spawn(forward(feed, tx)));
        let mut tick = tokio::time::interval(REFRESH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_read: Option<tokio::time::Instant> = None;
        let end = loop {
            // The first tick is immediate: the state shows at once.
            let turn = tokio::select! {
                item = items.recv() => self.on_items(item, &mut items).await,
                _ = tick.tick() => Turn::Refresh,
                action = self.actions.recv() => self.on_action(client, action).await,
            };
            match turn {
                Turn::Refresh => {}
                Turn::Quit => break End::Quit,
                Turn::End(end) => break end,
            }
            if let Some(last) = last_read {
                // Events that come meanwhile are read by the next turn.
                tokio::time::sleep_until(last + MIN_REFRESH_GAP).await;
            }
            if let Err(error) = self.refresh(client).await {
                break End::Lost(error);
            }
            last_read = Some(tokio::time::Instant::now());
        };
        drop(forwarder);
        end
    }

    /// Handles `first` and whatever else the feed has ready: a burst of
    /// events costs one status read, not one each.
    async fn on_items(
        &mut self,
        first: Option<FeedResult>,
        items: &mut mpsc::Receiver<FeedResult>,
    ) -> Turn {
        let mut next = first;
        loop {
            match next {
                Some(Ok(item)) => self.on_item(item).await,
                Some(Err(error)) => return Turn::End(End::Lost(error)),
                None => return Turn::End(End::FeedEnded),
            }
            next = match items.try_recv() {
                Ok(item) => Some(item),
                Err(mpsc::error::TryRecvError::Empty) => return Turn::Refresh,
                Err(mpsc::error::TryRecvError::Disconnected) => None,
            };
        }
    }

    async fn on_item(&mut self, item: FeedItem) {
        match item {
            FeedItem::Event(event) => {
                let new = self.cursor.advance(&event);
                let notice = new
                    .then(|| self.notices.on_event(&event.kind, Instant::now()))
                    .flatten();
                // Tests wait on this line as the marker that an event was
                // handled.
                tracing::info!(
                    seq = event.seq,
                    kind = event.kind.name(),
                    new,
                    notified = notice.is_some(),
                    "event handled"
                );
                if let Some(notice) = notice {
                    self.platform.notify(&notice).await;
                }
            }
            FeedItem::Gap { first, last } => {
                tracing::warn!(
                    first,
                    last,
                    "events missed while away; their notices are lost"
                );
            }
        }
    }

    /// Carries out a menu action.
    async fn on_action(&mut self, client: &Client, action: Option<Action>) -> Turn {
        let Some(action) = action.filter(|action| *action != Action::Quit) else {
            return Turn::Quit;
        };
        tracing::info!(?action, "menu action");
        if let Err(error) = self.answered(self.perform(client, &action)).await {
            tracing::warn!(%error, ?action, "the menu action failed");
            self.tell_failed(&action, error.to_string()).await;
        }
        Turn::Refresh
    }

    async fn perform(&self, client: &Client, action: &Action) -> Result<(), ActionError> {
        const HOUR: Duration = Duration::from_secs(3600);
        match action {
            Action::PauseForAnHour => pause(client, None, Some(HOUR)).await?,
            Action::PauseUntilMorning => {
                pause(client, None, Some(until_morning(&Local::now()))).await?;
            }
            Action::PauseUntilResumed => pause(client, None, None).await?,
            Action::Resume => client.resume(None).await?,
            Action::PauseCollection(name) => pause(client, Some(name), None).await?,
            Action::ResumeCollection(name) => client.resume(Some(name)).await?,
            Action::ReviewHolds => launch::review_in_terminal(&self.socket, &["holds"])?,
            Action::ReviewConflicts => launch::review_in_terminal(&self.socket, &["conflicts"])?,
            Action::OpenLog => self.open_log()?,
            Action::Quit => {}
        }
        Ok(())
    }

    fn open_log(&self) -> Result<(), ActionError> {
        let data_dir = self.model.data_dir().ok_or(ActionError::NoDataDir)?;
        Ok(launch::open_log(data_dir)?)
    }

    async fn refresh(&mut self, client: &Client) -> Result<(), ClientError> {
        let snapshot = Snapshot::of(&self.answered(client.status()).await?)?;
        self.notices.observe(&snapshot, Instant::now());
        self.model.connected(snapshot);
        self.show().await;
        Ok(())
    }

    /// Draws the model, when it changed since last drawn.
    async fn show(&mut self) {
        let view = self.model.local_view();
        if self.shown.as_ref() != Some(&view) {
            self.platform.show(&view).await;
            self.shown = Some(view);
        }
    }

    /// Tells the user that `action` was not done: the log is not where
    /// anyone clicking a menu looks.
    async fn tell_failed(&mut self, action: &Action, why: String) {
        let notice = Notice::action_failed(&action.describe(), why);
        self.platform.notify(&notice).await;
    }

    /// Waits `delay` before connecting again; the menu stays live (Quit,
    /// Open log).
    async fn wait_to_retry(&mut self, delay: Duration) -> std::ops::ControlFlow<()> {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return std::ops::ControlFlow::Continue(()),
                action = self.actions.recv() => match action {
                    None | Some(Action::Quit) => return std::ops::ControlFlow::Break(()),
                    Some(Action::OpenLog) => {
                        if let Err(error) = self.open_log() {
                            tracing::warn!(%error, "cannot open the log");
                            self.tell_failed(&Action::OpenLog, error.to_string()).await;
                        }
                    }
                    // The menu greys these out while the daemon is away,
                    // but one drawn before it went can still be clicked.
                    Some(action) => {
                        tracing::info!(?action, "syncrolld is not running; action not done");
                        self.tell_failed(&action, NOT_RUNNING.to_owned()).await;
                    }
                },
            }
        }
    }
}

async fn pause(
    client: &Client,
    collection: Option<&str>,
    duration: Option<Duration>,
) -> Result<(), ClientError> {
    let until = client.pause(collection, duration).await?;
    tracing::info!(?collection, ?until, "paused");
    Ok(())
}

/// Moves the feed's items into a channel, so the session's `select!`
/// never drops a half-read message.
async fn forward(mut feed: syncroll_client::EventStream, tx: mpsc::Sender<FeedResult>) {
    loop {
        let item = feed.next().await.transpose();
        let Some(item) = item else { return };
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            return;
        }
    }
}

/// Stops a task when its session ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use syncroll_client::EventKind;

    use super::*;

    fn event(seq: u64, at_ms: i64) -> Event {
        Event {
            seq,
            at_ms,
            kind: EventKind::RootBack {
                path: "/p".to_owned(),
            },
        }
    }

    /// A desktop that keeps the notices it is asked to show.
    #[derive(Debug, Default)]
    struct Recorder {
        notices: std::sync::Arc<std::sync::Mutex<Vec<Notice>>>,
    }

    impl Platform for Recorder {
        async fn show(&mut self, _: &TrayView) {}

        async fn notify(&mut self, notice: &Notice) {
            self.notices.lock().unwrap().push(notice.clone());
        }

        async fn shutdown(self) {}
    }

    #[tokio::test]
    async fn an_action_while_the_daemon_is_away_is_told_not_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (actions, received) = mpsc::unbounded_channel();
        actions.send(Action::PauseForAnHour).unwrap();
        actions.send(Action::Quit).unwrap();
        let platform = Recorder::default();
        let notices = platform.notices.clone();
        Link::new(dir.path().join("absent.sock"), platform, received)
            .run()
            .await;
        let notices = notices.lock().unwrap();
        assert_eq!(notices.len(), 1, "{notices:#?}");
        assert_eq!(notices[0].kind, crate::notices::NoticeKind::ActionFailed);
        assert_eq!(notices[0].summary, "Pause for 1 hour: not done");
        assert!(notices[0].body.contains("not running"), "{notices:#?}");
    }

    #[tokio::test]
    async fn a_daemon_that_never_answers_does_not_hold_quit_back() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("hung.sock");
        // Accepts connections and never answers on them, as a stopped
        // daemon's socket does.
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let _hung = AbortOnDrop(tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        }));
        let (actions, received) = mpsc::unbounded_channel();
        actions.send(Action::Quit).unwrap();
        let mut link = Link::new(socket, Recorder::default(), received);
        link.rpc_timeout = Duration::from_millis(200);
        // Bounded only so that the failure is a message, not a hung test.
        tokio::time::timeout(Duration::from_secs(120), link.run())
            .await
            .expect("the tray quits while the daemon does not answer");
    }

    #[test]
    fn the_first_connection_follows_from_the_end() {
        assert_eq!(Cursor::Unstarted.request(), None);
    }

    #[test]
    fn a_reconnection_resumes_after_the_last_event_seen() {
        let mut cursor = Cursor::Unstarted.connecting(1_000);
        assert!(cursor.advance(&event(7, 2_000)));
        let cursor = cursor.connecting(5_000);
        assert_eq!(cursor.request(), Some(7));
    }

    #[test]
    fn without_an_event_seen_a_reconnection_replays_but_tells_only_the_new() {
        let mut cursor = Cursor::Unstarted.connecting(1_000);
        assert_eq!(cursor.request(), Some(0));
        assert!(
            !cursor.advance(&event(3, 998)),
            "older than the tray's start"
        );
        assert!(
            !cursor.advance(&event(4, 999)),
            "older than the tray's start"
        );
        assert_eq!(cursor.request(), Some(4), "old ones are not read again");
        assert!(cursor.advance(&event(5, 1_000)));
        // Once a new event was seen, everything after it is new.
        assert!(cursor.advance(&event(6, 500)));
        assert_eq!(cursor.request(), Some(6));
    }
}
