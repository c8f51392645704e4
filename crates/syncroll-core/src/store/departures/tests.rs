use super::*;
use crate::store::HoldState;

/// A catalog with remote `nas`, root `/p` holding `n` photos `trip/pN.jpg`
/// (each its own bytes), the folder collection Trip over `trip/` with all
/// of them as members, and a ledger key `Trip/trip/pN.jpg` for each.
async fn album(n: u8) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.db")).await.unwrap();
    for sql in [
        "INSERT INTO remotes (name, kind, created_at) VALUES ('nas', 'fs', 0)",
        "INSERT INTO roots (path, state, added_at) VALUES ('/p', 'online', 0)",
        "INSERT INTO collections (name, kind, folder_root_id, folder_rel_path, remote_id,
                                  sync_enabled, created_at)
         VALUES ('Trip', 'folder', 1, CAST('trip' AS BLOB), 1, 1, 0)",
    ] {
        sqlx::query(sql).execute(&store.pool).await.unwrap();
    }
    for i in 0..n {
        let path = format!("trip/p{i}.jpg");
        sqlx::query(
            "INSERT INTO photos (root_id, rel_path, size, mtime_ns, inode, blake3, indexed_at)
             VALUES (1, ?, 10, 0, ?, ?, 0)",
        )
        .bind(path.as_bytes())
        .bind(i64::from(i))
        .bind(vec![i; 32])
        .execute(&store.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO collection_photos (collection_id, photo_id, added_at)
             VALUES (1, (SELECT id FROM photos WHERE rel_path = ?), 0)",
        )
        .bind(path.as_bytes())
        .execute(&store.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO remote_objects (remote_id, key, blake3, size, collection_id,
                                         uploaded_at, rel_path)
             VALUES (1, ?, ?, 10, 1, 0, ?)",
        )
        .bind(format!("Trip/{path}"))
        .bind(vec![i; 32])
        .bind(path.as_bytes())
        .execute(&store.pool)
        .await
        .unwrap();
    }
    (dir, store)
}

const TRIP: CollectionId = CollectionId(1);
const NAS: RemoteId = RemoteId(1);

async fn departures(store: &Store, keys: &[String]) -> Vec<Departure> {
    store
        .departure_candidates(NAS, TRIP, Some(RootId(1)), keys)
        .await
        .unwrap()
        .into_iter()
        .map(|c| {
            let (photo, local) = c.photo.expect("a photo");
            assert!(c.member);
            Departure {
                key: c.key,
                photo,
                hash: local.hash,
                bytes: c.bytes,
            }
        })
        .collect()
}

async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&store.pool)
        .await
        .unwrap()
}

async fn members(store: &Store) -> i64 {
    count(store, "SELECT COUNT(*) FROM collection_photos").await
}

fn keys(range: std::ops::Range<u8>) -> Vec<String> {
    range.map(|i| format!("Trip/trip/p{i}.jpg")).collect()
}

async fn held(store: &Store, n: u64) -> i64 {
    match store.brake_departures(TRIP, NAS, n, false).await.unwrap() {
        DepartureVerdict::Held { hold } => hold,
        DepartureVerdict::Run => panic!("{n} departures must be held"),
    }
}

#[tokio::test]
async fn a_departure_leaves_the_collection_and_the_ledger_and_is_remembered() {
    let (_dir, store) = album(3).await;
    let gone = departures(&store, &keys(0..1)).await;
    store.depart(TRIP, NAS, true, &gone).await.unwrap();
    assert_eq!(members(&store).await, 2);
    let page = store.ledger_keys_page(NAS, "Trip/", "", 10).await.unwrap();
    assert_eq!(page.len(), 2, "{page:?}");
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM collection_departures").await,
        1
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM photos").await, 3);
}

#[tokio::test]
async fn the_brake_holds_an_emptied_album_and_a_reject_keeps_every_photo() {
    let (_dir, store) = album(20).await;
    let all = keys(0..20);
    let hold = held(&store, 20).await;
    let gone = departures(&store, &all).await;
    store.hold_departures(hold, NAS, &gone).await.unwrap();
    let shown = store.hold(hold).await.unwrap();
    assert_eq!(
        (shown.remote_deleted, shown.deletions, shown.bytes),
        (20, 20, 200)
    );
    assert!(
        shown
            .reason()
            .contains("20 photos were deleted from the remote album"),
        "{}",
        shown.reason()
    );

    // Listed page by page, in order, each once.
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = store.hold_keys(hold, after, 7).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.cursor;
        seen.extend(page.into_iter().map(|k| k.key));
    }
    let mut in_key_order = all.clone();
    in_key_order.sort();
    assert_eq!(seen, in_key_order);

    // Polled again, the same departures stay held in the same hold.
    assert_eq!(held(&store, 20).await, hold);
    store.hold_departures(hold, NAS, &gone).await.unwrap();
    assert_eq!(store.hold(hold).await.unwrap().remote_deleted, 20);

    assert_eq!(store.decide_hold(hold, false).await.unwrap(), 20);
    assert_eq!(store.hold(hold).await.unwrap().state, HoldState::Rejected);
    assert_eq!(members(&store).await, 20, "every photo stays");
    assert!(
        store
            .ledger_keys_page(NAS, "Trip/", "", 50)
            .await
            .unwrap()
            .is_empty(),
        "the copies the album lacks are forgotten, so they are no departures again"
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM plan_queue WHERE collection_id = 1"
        )
        .await,
        20,
        "planned again, to be sent by a pushing connection"
    );
}

#[tokio::test]
async fn an_album_back_withdraws_the_hold_and_an_approval_lets_them_pass() {
    let (_dir, store) = album(20).await;
    let hold = held(&store, 20).await;
    store
        .hold_departures(hold, NAS, &departures(&store, &keys(0..20)).await)
        .await
        .unwrap();
    // The next poll finds nothing gone.
    store.brake_departures(TRIP, NAS, 0, false).await.unwrap();
    store.settle_departures(TRIP).await.unwrap();
    assert_eq!(store.hold(hold).await.unwrap().state, HoldState::Withdrawn);

    // Emptied again, then approved: the next poll's departures pass.
    let hold = held(&store, 20).await;
    store
        .hold_departures(hold, NAS, &departures(&store, &keys(0..20)).await)
        .await
        .unwrap();
    assert_eq!(store.decide_hold(hold, true).await.unwrap(), 20);
    assert_eq!(
        store.brake_departures(TRIP, NAS, 20, false).await.unwrap(),
        DepartureVerdict::Run
    );
    store
        .depart(TRIP, NAS, true, &departures(&store, &keys(0..20)).await)
        .await
        .unwrap();
    assert_eq!(members(&store).await, 0);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM photos").await, 20);
}

#[tokio::test]
async fn a_few_departures_of_an_album_that_lists_empty_are_held() {
    let (_dir, store) = album(5).await;
    assert!(matches!(
        store.brake_departures(TRIP, NAS, 5, true).await.unwrap(),
        DepartureVerdict::Held { .. }
    ));
}

#[tokio::test]
async fn a_few_departures_run_without_a_hold() {
    let (_dir, store) = album(40).await;
    assert_eq!(
        store.brake_departures(TRIP, NAS, 3, false).await.unwrap(),
        DepartureVerdict::Run
    );
    assert!(store.holds(true).await.unwrap().is_empty());
}
