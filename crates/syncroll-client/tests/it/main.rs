//! The client against the real `syncrolld` on its real socket: typed
//! calls, states and events, and a daemon that is not there.

use std::time::Duration;

use syncroll_client::{
    Client, ClientError, EventKind, FeedItem, JobState, PauseChange, RootState, SyncState,
};
use syncroll_testkit::{Daemon, s, write_photos};

/// Three photos in the folder collection Trip, synced to `local`, the
/// queue drained.
fn synced_trip() -> Daemon {
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    write_photos(&root.join("trip"), "t", 3, 100);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    let folder = root.join("trip");
    daemon
        .cli(&[
            "collections",
            "create",
            "Trip",
            "--folder",
            s(&folder),
            "--sync",
        ])
        .ok();
    daemon.cli(&["wait", "--timeout", "60s"]).ok();
    daemon
}

/// The next event of the feed, which must come.
async fn next_event(feed: &mut syncroll_client::EventStream) -> EventKind {
    let item = tokio::time::timeout(Duration::from_secs(20), feed.next())
        .await
        .expect("an event within 20 s")
        .expect("the feed answers")
        .expect("the feed goes on");
    match item {
        FeedItem::Event(event) => event.kind,
        gap => panic!("a gap on a fresh daemon: {gap:?}"),
    }
}

#[tokio::test]
async fn typed_calls_states_and_events_over_the_real_socket() {
    let daemon = synced_trip();
    let client = Client::connect(&daemon.socket).await.unwrap();
    assert_eq!(client.socket(), daemon.socket.as_path());

    let roots = client.roots().await.unwrap();
    assert_eq!(roots.len(), 1, "{roots:?}");
    assert_eq!(roots[0].state, RootState::Online);
    assert_eq!(roots[0].photo_count, 3);
    let done = client
        .jobs(Some(JobState::Done), Some("Trip"))
        .await
        .unwrap();
    assert_eq!(done.len(), 3, "{done:?}");
    assert!(
        done.iter()
            .all(|j| j.state == JobState::Done && j.id.is_some())
    );
    assert!(client.holds(false).await.unwrap().is_empty());
    assert_eq!(client.sync_state().await.unwrap().0, SyncState::Idle);
    let status = client.status().await.unwrap();
    assert_eq!(status.data_dir, daemon.data_dir.to_str().unwrap());
    assert_eq!(status.roots.len(), 1);
    assert_eq!(status.sync.map(|sync| sync.state).as_deref(), Some("idle"));

    let mut feed = client.watch_events(None).await.unwrap();
    let until = client
        .pause(None, Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    assert!(until.is_some());
    assert_eq!(
        client.sync_state().await.unwrap().0,
        SyncState::Paused { until }
    );
    assert_eq!(
        next_event(&mut feed).await,
        EventKind::PauseChanged {
            collection: None,
            pause: PauseChange::Paused { until }
        }
    );
    client.resume(None).await.unwrap();
    assert_eq!(
        next_event(&mut feed).await,
        EventKind::PauseChanged {
            collection: None,
            pause: PauseChange::Resumed
        }
    );
    // Until resumed: no deadline, not a 0.
    assert_eq!(client.pause(Some("Trip"), None).await.unwrap(), None);
    assert_eq!(
        next_event(&mut feed).await,
        EventKind::PauseChanged {
            collection: Some("Trip".to_owned()),
            pause: PauseChange::Paused { until: None }
        }
    );
}

#[tokio::test]
async fn a_daemon_that_is_not_there_is_unreachable_naming_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("syncroll.sock");
    match Client::connect(&socket).await {
        Err(ClientError::Unreachable { socket: named, .. }) => assert_eq!(named, socket),
        other => panic!("not unreachable: {other:?}"),
    }
}
