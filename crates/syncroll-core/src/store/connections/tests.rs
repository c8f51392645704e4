use super::*;
use crate::connection::DEFAULT_POLL;

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.db")).await.unwrap();
    for sql in [
        "INSERT INTO remotes (name, kind, created_at) VALUES ('nas', 'fs', 0)",
        "INSERT INTO roots (path, state, added_at) VALUES ('/p', 'online', 0), ('/q', 'online', 0)",
        "INSERT INTO collections (name, kind, remote_id, created_at) VALUES ('Trip', 'manual', 1, 0)",
    ] {
        sqlx::query(sql).execute(&store.pool).await.unwrap();
    }
    (dir, store)
}

fn request(direction: Direction, returns: ReturnMode) -> ConnectRequest {
    ConnectRequest {
        direction,
        returns: Some(returns),
        inbox: None,
        poll: None,
    }
}

const TRIP: CollectionId = CollectionId(1);
const NAS: RemoteId = RemoteId(1);

#[tokio::test]
async fn connect_creates_then_updates_and_disconnect_removes() {
    let (_dir, store) = store().await;
    assert_eq!(store.connection(TRIP).await.unwrap(), None);
    let inbox = Path::new("/p/Trip");
    let (created, new) = store
        .connect(TRIP, &request(Direction::Both, ReturnMode::Version), inbox)
        .await
        .unwrap();
    assert!(new);
    assert_eq!(created.collection_name, "Trip");
    assert_eq!(created.remote_name, "nas");
    assert_eq!(created.inbox, inbox);
    assert_eq!(created.poll, DEFAULT_POLL);

    let (changed, new) = store
        .connect(
            TRIP,
            &request(Direction::Pull, ReturnMode::Version),
            Path::new("/q"),
        )
        .await
        .unwrap();
    assert!(!new);
    assert_eq!(changed.direction, Direction::Pull);
    assert_eq!(changed.inbox, inbox, "an existing inbox is kept");
    assert_eq!(changed.created_at_ms, created.created_at_ms);

    let refused = store
        .connect(TRIP, &request(Direction::Pull, ReturnMode::Copy), inbox)
        .await;
    assert!(
        matches!(refused, Err(Error::ReturnsFixed { .. })),
        "{refused:?}"
    );

    store
        .record_poll(TRIP, 1234, "listed 3 objects")
        .await
        .unwrap();
    let polled = store.connection(TRIP).await.unwrap().unwrap();
    assert_eq!(polled.last_polled_at_ms, Some(1234));
    assert_eq!(polled.last_poll_outcome, "listed 3 objects");
    assert_eq!(store.connections().await.unwrap(), vec![polled]);

    assert!(store.disconnect(TRIP).await.unwrap());
    assert!(!store.disconnect(TRIP).await.unwrap());
    assert_eq!(store.connection(TRIP).await.unwrap(), None);
}

#[tokio::test]
async fn the_schema_refuses_what_the_rules_refuse() {
    let (_dir, store) = store().await;
    for bad in [
        "INSERT INTO connections (collection_id, direction, returns, inbox, created_at) VALUES (1, 'sideways', 'copy', '/p', 0)",
        "INSERT INTO connections (collection_id, direction, returns, inbox, created_at) VALUES (1, 'pull', 'both', '/p', 0)",
        "INSERT INTO connections (collection_id, direction, returns, inbox, created_at) VALUES (1, 'pull', 'copy', 'p', 0)",
        "INSERT INTO connections (collection_id, direction, returns, inbox, poll_secs, created_at) VALUES (1, 'pull', 'copy', '/p', 1, 0)",
    ] {
        assert!(
            sqlx::query(bad).execute(&store.pool).await.is_err(),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn the_first_root_of_a_collection_is_its_photos_else_the_catalogs() {
    let (_dir, store) = store().await;
    assert_eq!(
        store.first_root_of(TRIP).await.unwrap(),
        Some(PathBuf::from("/p"))
    );
    for sql in [
        "INSERT INTO photos (root_id, rel_path, size, mtime_ns, inode, blake3, indexed_at)
         VALUES (2, x'61', 1, 0, 1, zeroblob(32), 0)",
        "INSERT INTO collection_photos (collection_id, photo_id, added_at) VALUES (1, 1, 0)",
    ] {
        sqlx::query(sql).execute(&store.pool).await.unwrap();
    }
    assert_eq!(
        store.first_root_of(TRIP).await.unwrap(),
        Some(PathBuf::from("/q"))
    );
}

#[tokio::test]
async fn a_base_is_recorded_and_a_later_put_clears_its_remote_side() {
    let (_dir, store) = store().await;
    sqlx::query(
        "INSERT INTO remote_objects (remote_id, key, blake3, size, etag, collection_id, uploaded_at)
         VALUES (1, 'Trip/a.jpg', zeroblob(32), 10, 'e1', 1, 0)",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    let (before, etag) = store.base(NAS, "Trip/a.jpg").await.unwrap().unwrap();
    assert_eq!(
        before.remote, None,
        "a row from before connections has no remote side"
    );
    assert_eq!(etag.as_deref(), Some("e1"));

    let agreed = Base {
        local: LocalSide {
            hash: ContentHash([7; 32]),
            size: 12,
            mtime_ns: 99,
        },
        remote: Some(RemoteSide {
            size: 12,
            etag: Some("e2".into()),
            modified_ms: 5,
            hash: Some(ContentHash([7; 32])),
        }),
    };
    assert!(store.record_base(NAS, "Trip/a.jpg", &agreed).await.unwrap());
    assert!(
        !store
            .record_base(NAS, "Trip/none.jpg", &agreed)
            .await
            .unwrap()
    );
    assert_eq!(
        store.base(NAS, "Trip/a.jpg").await.unwrap().unwrap().0,
        agreed
    );

    // An upload's upsert (as the workers write it) replaces the object.
    sqlx::query(
        "UPDATE remote_objects SET blake3 = zeroblob(32), size = 3, etag = 'e3', uploaded_at = 9
         WHERE key = 'Trip/a.jpg'",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    let (after, etag) = store.base(NAS, "Trip/a.jpg").await.unwrap().unwrap();
    assert_eq!(after.remote, None);
    assert_eq!(after.local.mtime_ns, 0);
    assert_eq!(etag.as_deref(), Some("e3"));
}

#[tokio::test]
async fn conflicts_are_recorded_listed_and_counted() {
    let (_dir, store) = store().await;
    assert!(store.conflicts(true).await.unwrap().is_empty());
    assert_eq!(store.open_conflict_count().await.unwrap(), 0);
    use std::os::unix::ffi::OsStrExt;
    let odd = PathBuf::from(std::ffi::OsStr::from_bytes(b"/p/Trip/\xff.jpg"));
    let id = store
        .record_conflict(&NewConflict {
            collection: TRIP,
            remote: NAS,
            key: "Trip/a.jpg",
            local_path: &odd,
            copy_path: Path::new("/p/Trip/a (conflict 2026-12-01 213507 nas).jpg"),
            detected_at_ms: 42,
        })
        .await
        .unwrap();
    let listed = store.conflicts(false).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].local_path, odd, "paths keep their raw bytes");
    assert_eq!(listed[0].collection_name, "Trip");
    assert_eq!(listed[0].resolved_at_ms, None);
    assert_eq!(store.open_conflict_count().await.unwrap(), 1);
}

#[tokio::test]
async fn bases_are_paged_in_key_order_within_one_folder() {
    let (_dir, store) = store().await;
    for key in [
        "Trip/b.jpg",
        "Trip/a.jpg",
        "Trip/sub/c.jpg",
        "Trip0.jpg",
        "Tri/x.jpg",
        "Trip-2/d.jpg",
    ] {
        sqlx::query(
            "INSERT INTO remote_objects (remote_id, key, blake3, size, collection_id, uploaded_at)
             VALUES (1, ?, zeroblob(32), 1, 1, 0)",
        )
        .bind(key)
        .execute(&store.pool)
        .await
        .unwrap();
    }
    let keys = |page: Vec<(String, Base, Option<String>)>| -> Vec<String> {
        page.into_iter().map(|(k, _, _)| k).collect()
    };
    let first = keys(store.bases_page(NAS, "Trip/", "", 2).await.unwrap());
    assert_eq!(first, ["Trip/a.jpg", "Trip/b.jpg"]);
    let rest = keys(
        store
            .bases_page(NAS, "Trip/", "Trip/b.jpg", 2)
            .await
            .unwrap(),
    );
    assert_eq!(rest, ["Trip/sub/c.jpg"]);
    assert!(
        store
            .bases_page(NAS, "Trip/", "Trip/sub/c.jpg", 2)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_download_is_recorded_with_its_base_and_can_be_taken_back() {
    let (_dir, store) = store().await;
    let hash = ContentHash([4; 32]);
    let agreed = Base {
        local: LocalSide {
            hash,
            size: 9,
            mtime_ns: 77,
        },
        remote: Some(RemoteSide {
            size: 9,
            etag: Some("\"d1\"".into()),
            modified_ms: 1_000,
            hash: Some(hash),
        }),
    };
    let rel = crate::types::RelPath::from_bytes(b"trip/phone.jpg".to_vec());
    store
        .record_download(NAS, TRIP, "Trip/trip/phone.jpg", &rel, &agreed, None)
        .await
        .unwrap();
    let (base, own) = store
        .base(NAS, "Trip/trip/phone.jpg")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(base, agreed);
    assert_eq!(own, None, "syncroll did not put it there");

    // Other bytes (an upload recorded meanwhile) are not taken back.
    store
        .forget_download(NAS, "Trip/trip/phone.jpg", &ContentHash([5; 32]))
        .await
        .unwrap();
    assert!(
        store
            .base(NAS, "Trip/trip/phone.jpg")
            .await
            .unwrap()
            .is_some()
    );
    store
        .forget_download(NAS, "Trip/trip/phone.jpg", &hash)
        .await
        .unwrap();
    assert!(
        store
            .base(NAS, "Trip/trip/phone.jpg")
            .await
            .unwrap()
            .is_none()
    );
}

/// Starting or stopping to send local changes asks for a full
/// reconciliation with the change: `pull` cancels what waits, and the way
/// back plans what changed meanwhile. A change that keeps sending does not.
#[tokio::test]
async fn a_direction_that_starts_or_stops_sending_asks_for_a_reconciliation() {
    let (_dir, store) = store().await;
    sqlx::query("UPDATE collections SET sync_enabled = 1")
        .execute(&store.pool)
        .await
        .unwrap();
    let reconciling = || async {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reconcile WHERE collection_id = 1")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        sqlx::query("DELETE FROM reconcile")
            .execute(&store.pool)
            .await
            .unwrap();
        n == 1
    };
    let inbox = Path::new("/p/Trip");
    let connect = |direction| {
        let store = store.clone();
        async move {
            store
                .connect(TRIP, &request(direction, ReturnMode::Version), inbox)
                .await
                .unwrap();
        }
    };
    // Turning sync on asked for one already.
    reconciling().await;
    connect(Direction::Both).await;
    assert!(!reconciling().await, "push-only sync to both still sends");
    connect(Direction::Pull).await;
    assert!(reconciling().await, "both to pull stops sending");
    connect(Direction::Pull).await;
    assert!(!reconciling().await);
    connect(Direction::Push).await;
    assert!(reconciling().await, "pull to push catches up");
    connect(Direction::Pull).await;
    assert!(reconciling().await);
    assert!(store.disconnect(TRIP).await.unwrap());
    assert!(
        reconciling().await,
        "a pull connection's end catches up too"
    );
}
