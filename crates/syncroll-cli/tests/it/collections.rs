use std::fs;

use crate::create_trip;
use syncroll_testkit::{Daemon, s, write_file, write_photos};

fn daemon_with_root() -> (Daemon, std::path::PathBuf) {
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    write_photos(&root.join("trip"), "t", 3, 100);
    write_photos(&root.join("home"), "h", 2, 100);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    (daemon, root)
}

#[test]
fn folder_collection_follows_its_folder() {
    let (daemon, root) = daemon_with_root();
    let created = daemon.json(&[
        "collections",
        "create",
        "Trip",
        "--folder",
        s(&root.join("trip")),
    ]);
    assert_eq!(created["collection"]["kind"], "folder");
    assert_eq!(created["collection"]["photo_count"], 3);
    assert_eq!(created["collection"]["remote"], "local");

    write_file(&root.join("trip/day2/t9.jpg"), b"new");
    fs::remove_file(root.join("trip/t0.jpg")).unwrap();
    // A sibling folder with a name that starts the same is not inside.
    write_file(&root.join("trip2/x.jpg"), b"x");
    daemon.wait_for_photos(
        Some("Trip"),
        &["trip/day2/t9.jpg", "trip/t1.jpg", "trip/t2.jpg"],
    );

    // Moving a photo out of the folder takes it out of the collection.
    fs::rename(root.join("trip/t1.jpg"), root.join("home/t1.jpg")).unwrap();
    daemon.wait_for_photos(Some("Trip"), &["trip/day2/t9.jpg", "trip/t2.jpg"]);
}

#[test]
fn manual_collection_add_and_remove_files_and_folders() {
    let (daemon, root) = daemon_with_root();
    daemon.cli(&["collections", "create", "Best"]).ok();
    let added = daemon.json(&[
        "collections",
        "add",
        "Best",
        s(&root.join("trip")),
        s(&root.join("home/h0.jpg")),
    ]);
    assert_eq!(added["photos_added"], 4);
    assert_eq!(added["photo_count"], 4);
    // Adding again adds nothing new.
    assert_eq!(
        daemon.json(&["collections", "add", "Best", s(&root.join("trip"))])["photos_added"],
        0
    );

    let removed = daemon.json(&[
        "collections",
        "remove",
        "Best",
        s(&root.join("trip/t1.jpg")),
    ]);
    assert_eq!(removed["photos_removed"], 1);
    assert_eq!(
        daemon.photo_paths(Some("Best")),
        ["home/h0.jpg", "trip/t0.jpg", "trip/t2.jpg"]
    );

    // A manual collection does not follow folders: a new file is not added.
    write_file(&root.join("trip/t7.jpg"), b"later");
    daemon.wait_for_photos(
        None,
        &[
            "home/h0.jpg",
            "home/h1.jpg",
            "trip/t0.jpg",
            "trip/t1.jpg",
            "trip/t2.jpg",
            "trip/t7.jpg",
        ],
    );
    assert_eq!(daemon.photo_paths(Some("Best")).len(), 3);

    // A file deleted from disk leaves the collection.
    fs::remove_file(root.join("trip/t0.jpg")).unwrap();
    daemon.wait_for_photos(Some("Best"), &["home/h0.jpg", "trip/t2.jpg"]);
}

#[test]
fn adding_a_just_saved_photo_indexes_it_first() {
    let daemon = Daemon::builder()
        .config("[watcher]\nenabled = false")
        .start();
    let root = daemon.scratch("photos");
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    daemon.cli(&["collections", "create", "Now"]).ok();
    let fresh = write_file(&root.join("fresh.jpg"), b"just saved");
    let added = daemon.json(&["collections", "add", "Now", s(&fresh)]);
    assert_eq!(added["photos_added"], 1);
}

#[test]
fn list_show_rename_delete() {
    let (daemon, root) = daemon_with_root();
    daemon.cli(&["collections", "create", "B"]).ok();
    daemon
        .cli(&[
            "collections",
            "create",
            "A",
            "--folder",
            s(&root.join("home")),
        ])
        .ok();
    let list = daemon.json(&["collections", "list"]);
    let names: Vec<&str> = list["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["A", "B"]);
    let human = daemon.cli(&["collections", "list"]).ok().stdout;
    assert!(
        human.contains("A  (folder") && human.contains("B  (manual)"),
        "{human}"
    );

    let shown = daemon.json(&["collections", "show", "A"]);
    assert_eq!(shown["collection"]["photo_count"], 2);
    assert_eq!(
        shown["collection"]["folder"],
        s(&root.canonicalize().unwrap().join("home"))
    );

    daemon
        .cli(&["collections", "rename", "A", "Home life"])
        .ok();
    assert_eq!(
        daemon.json(&["collections", "show", "Home life"])["collection"]["photo_count"],
        2
    );
    daemon.cli(&["collections", "show", "A"]).fails_with(1);
    let clash = daemon
        .cli(&["collections", "rename", "B", "Home life"])
        .fails_with(1);
    assert!(
        clash.stderr.contains("\"Home life\" already exists"),
        "{clash:?}"
    );

    daemon.cli(&["collections", "delete", "Home life"]).ok();
    daemon
        .cli(&["collections", "show", "Home life"])
        .fails_with(1);
    assert_eq!(
        daemon.photos(None).len(),
        5,
        "deleting a collection keeps its photos"
    );
    assert_eq!(fs::read_dir(root.join("home")).unwrap().count(), 2);
}

#[test]
fn folder_collection_membership_is_not_edited_by_hand() {
    let (daemon, root) = daemon_with_root();
    create_trip(&daemon, &root, &[]);
    let run = daemon
        .cli(&["collections", "add", "Trip", s(&root.join("home/h0.jpg"))])
        .fails_with(1);
    assert!(run.stderr.contains("follows the folder"), "{run:?}");
}

#[test]
fn a_root_followed_by_a_folder_collection_is_not_removed() {
    let (daemon, root) = daemon_with_root();
    create_trip(&daemon, &root, &[]);
    let run = daemon.cli(&["roots", "remove", s(&root)]).fails_with(1);
    assert!(run.stderr.contains("\"Trip\""), "{run:?}");
    assert_eq!(daemon.photos(None).len(), 5);
}
