use syncroll_testkit::{Daemon, s, write_photos};

#[test]
fn photos_lists_everything_by_default_and_honours_limit() {
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    // More than one page of the daemon's keyset-paginated listing (500).
    write_photos(&root, "p", 1203, 16);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);

    let all = daemon.photos(None);
    assert_eq!(all.len(), 1203);
    let mut paths: Vec<&str> = all.iter().map(|p| p["path"].as_str().unwrap()).collect();
    let listed = paths.clone();
    paths.sort();
    assert_eq!(listed, paths, "listing is ordered by path");
    paths.dedup();
    assert_eq!(paths.len(), 1203, "no photo is listed twice across pages");

    let limited = daemon
        .cli(&["--json", "photos", "--limit", "7"])
        .ok()
        .json_lines();
    assert_eq!(limited.len(), 7);
    let human = daemon.cli(&["photos", "--limit", "2"]).ok().stdout;
    assert_eq!(human.lines().count(), 2);
    assert!(human.contains(s(&root.canonicalize().unwrap())), "{human}");
}

#[test]
fn photos_of_a_collection() {
    let daemon = Daemon::start();
    let root = daemon.scratch("photos");
    write_photos(&root.join("a"), "a", 3, 16);
    write_photos(&root.join("b"), "b", 2, 16);
    daemon.cli(&["roots", "add", s(&root)]).ok();
    daemon.json(&["rescan"]);
    daemon
        .cli(&["collections", "create", "B", "--folder", s(&root.join("b"))])
        .ok();
    assert_eq!(daemon.photo_paths(Some("B")), ["b/b0.jpg", "b/b1.jpg"]);
}
