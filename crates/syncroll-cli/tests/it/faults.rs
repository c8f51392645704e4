//! Sync to S3 over a faulty network: a [`FaultProxy`] between the daemon and
//! a real S3 server resets, cuts and stalls a bounded number of connections,
//! and the sync still converges, every photo on the remote once,
//! byte-identical, with nothing else left there.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use syncroll_testkit::{
    Daemon, FaultCounts, FaultPlan, FaultProxy, S3Server, Seen, s, write_file, write_photos,
};

use crate::create_trip;

/// Above the 6 MiB multipart threshold set in [`daemon_config`].
const BIG_FILES_MIB: [usize; 3] = [11, 12, 16];

/// Quick retries, more attempts than the plan has faults (a fault fails at
/// most one attempt of one job, so none can run out), and multipart uploads
/// of 5 MiB parts (S3's minimum) for files above 6 MiB.
fn daemon_config(plan: &FaultPlan) -> String {
    format!(
        "[sync]\nretry_base_ms = 20\nretry_max_secs = 1\noffline_retry_secs = 1\nmax_attempts = {}\n\
         [remotes]\nmultipart_threshold_bytes = {}\npart_size_bytes = {}\n",
        plan.max_faults + 2,
        6 << 20,
        5 << 20,
    )
}

/// A daemon that reaches `server` only through a fault proxy, as the remote
/// `faulty`, with the photos `write` puts in the folder `trip` of a root.
struct Setup {
    server: S3Server,
    proxy: FaultProxy,
    daemon: Daemon,
    trip: PathBuf,
}

impl Setup {
    fn start(plan: FaultPlan, write: impl FnOnce(&Path)) -> Self {
        let server = S3Server::start();
        let upstream = server
            .endpoint_str()
            .trim_start_matches("http://")
            .parse()
            .expect("the server's address");
        let proxy = FaultProxy::start(upstream, plan.clone());
        let daemon = Daemon::builder().config(&daemon_config(&plan)).start();
        let root = daemon.scratch("photos");
        let trip = root.join("trip");
        write(&trip);
        daemon.cli(&["roots", "add", s(&root)]).ok();
        daemon.json(&["rescan"]);
        syncroll_testkit::add_s3_remote_at(&daemon, "faulty", &proxy.endpoint(), &[]);
        Self {
            server,
            proxy,
            daemon,
            trip,
        }
    }

    /// Creates the folder collection `Trip`, synced to `faulty`.
    fn sync_trip(&self) {
        let root = self.trip.parent().expect("the root");
        create_trip(&self.daemon, root, &["--remote", "faulty", "--sync"]);
    }

    /// Waits for the queue to drain with no job failed.
    fn wait(&self) {
        self.daemon.cli(&["wait", "--timeout", "300s"]).ok();
    }

    /// The bucket's objects (s3s-fs keeps its bookkeeping in dot-files,
    /// left out), key → BLAKE3.
    fn bucket(&self) -> BTreeMap<String, String> {
        hashes(&self.server.bucket_dir(), "")
    }

    /// What the bucket must hold: each photo under `Trip/trip/`.
    fn photos(&self) -> BTreeMap<String, String> {
        hashes(&self.trip, "Trip/trip/")
    }

    /// Jobs of `op` by key, with their states; each key must have one.
    fn job_states(&self, op: &str) -> BTreeMap<String, String> {
        let jobs = self.daemon.cli(&["--json", "jobs"]).ok().json_lines();
        let mut states = BTreeMap::new();
        for job in jobs.iter().filter(|j| j["op"] == op) {
            let key = job["key"].as_str().unwrap_or_default().to_owned();
            let state = job["state"].as_str().unwrap_or_default().to_owned();
            if let Some(earlier) = states.insert(key.clone(), state) {
                panic!("two {op} jobs for {key} (one {earlier}): {jobs:#?}");
            }
        }
        states
    }

    /// Status says idle, with no failed job.
    fn assert_idle_without_failures(&self) {
        let sync = &self.daemon.json(&["status"])["sync"];
        assert_eq!(sync["idle"], Value::Bool(true), "{sync:#}");
        assert_eq!(sync["failed"].as_u64(), Some(0), "{sync:#}");
    }

    /// No multipart upload is left open, nor any of its parts, except one
    /// the daemon never learned of: when the reply to CreateMultipartUpload
    /// is cut, `object_store` sends the request again (it counts it as
    /// idempotent), and the first upload, without parts, is out of reach
    /// (`object_store` cannot list uploads; a bucket lifecycle rule is the
    /// backstop). On failure, shows the requests that named the uploads.
    fn assert_no_multipart_left(&self) {
        let seen = self.server.seen();
        let (left, unknown): (Vec<String>, Vec<String>) = self
            .server
            .multipart_files()
            .into_iter()
            .partition(|file| !naming(&seen, file).is_empty());
        if !unknown.is_empty() {
            let creates = seen.iter().filter(|r| r.target.contains("?uploads"));
            let named: BTreeSet<&str> = seen
                .iter()
                .filter_map(|r| r.target.split("uploadId=").nth(1))
                .collect();
            eprintln!(
                "{} CreateMultipartUpload requests, {} uploads named later, never named: {unknown:?}",
                creates.count(),
                named.len()
            );
        }
        let requests: Vec<String> = left.iter().flat_map(|f| naming(&seen, f)).collect();
        assert!(left.is_empty(), "left: {left:#?}\nrequests: {requests:#?}");
    }
}

/// Every file below `dir` whose name does not start with a dot, as
/// `prefix` + its relative path → BLAKE3 of its bytes.
fn hashes(dir: &Path, prefix: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in fs::read_dir(&folder).expect("a readable folder") {
            let path = entry.expect("a folder entry").path();
            if path
                .file_name()
                .is_some_and(|n| n.as_encoded_bytes()[0] == b'.')
            {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path.strip_prefix(dir).expect("below dir");
            let bytes = fs::read(&path).expect("a readable file");
            out.insert(
                format!("{prefix}{}", relative.display()),
                blake3::hash(&bytes).to_hex().to_string(),
            );
        }
    }
    out
}

/// The requests that named the upload of an s3s-fs bookkeeping file.
fn naming(seen: &[Seen], file: &str) -> Vec<String> {
    let id = upload_id(file);
    let about = seen.iter().filter(|r| r.target.contains(id));
    about
        .map(|r| format!("{} {}", r.method, r.target))
        .collect()
}

/// The upload id in an s3s-fs bookkeeping file name:
/// `.upload-<id>.json` or `.upload_id-<id>.part-<n>`.
fn upload_id(file: &str) -> &str {
    let rest = file
        .trim_start_matches(".upload_id-")
        .trim_start_matches(".upload-");
    rest.split('.').next().unwrap_or(rest)
}

/// Each key with `state`.
fn all(keys: &BTreeMap<String, String>, state: &str) -> BTreeMap<String, String> {
    keys.keys()
        .map(|key| (key.clone(), state.to_owned()))
        .collect()
}

/// 57 small photos and three above the multipart threshold.
fn trip_photos(trip: &Path) {
    write_photos(trip, "t", 57, 64 * 1024);
    for (i, mib) in BIG_FILES_MIB.into_iter().enumerate() {
        let bytes: Vec<u8> = (0..(mib << 20) + i)
            .map(|b| (b % 251) as u8 ^ i as u8)
            .collect();
        write_file(&trip.join(format!("clip{i}.mov")), &bytes);
    }
}

#[track_caller]
fn assert_every_kind_injected(counts: FaultCounts) {
    assert!(
        counts.resets_at_accept > 0
            && counts.cut_requests > 0
            && counts.cut_replies > 0
            && counts.stalls > 0,
        "every kind of fault was injected: {counts:?}"
    );
}

#[test]
fn an_s3_sync_through_a_faulty_network_converges_with_nothing_lost_or_duplicated() {
    let plan = FaultPlan {
        reset_one_in: 4,
        reply_gap_bytes: 1 << 10,
        max_faults: 40,
        ..FaultPlan::default()
    };
    let setup = Setup::start(plan, trip_photos);
    setup.sync_trip();
    setup.wait();

    let photos = setup.photos();
    assert_eq!(photos.len(), 60);
    assert_eq!(
        setup.bucket(),
        photos,
        "each photo byte-identical, no other object"
    );
    setup.assert_no_multipart_left();
    assert_eq!(setup.job_states("upload"), all(&photos, "done"));
    assert_eq!(setup.job_states("delete"), BTreeMap::new());
    setup.assert_idle_without_failures();
    let counts = setup.proxy.counts();
    eprintln!("fault proxy: {counts:?}");
    assert_every_kind_injected(counts);
}

#[test]
fn sync_off_through_a_faulty_network_removes_every_copy_and_only_those() {
    // Deletes are small requests: cuts come after fewer bytes. They are
    // also few (the deletes claimed together go in one DeleteObjects), on
    // connections kept from the uploads, so whether a new connection comes
    // to be reset depends on timing: resets at accept are the upload
    // test's to prove, this one wants cuts and stalls.
    let plan = FaultPlan {
        request_gap_bytes: 1 << 10,
        stall_one_in: 2,
        reply_gap_bytes: 512,
        reset_one_in: 2,
        max_faults: 48,
        ..FaultPlan::default()
    };
    let setup = Setup::start(plan, |trip| {
        write_photos(trip, "t", 40, 16 * 1024);
    });
    // Uploads go through cleanly; the faults are for the deletes.
    setup.proxy.set_faults(false);
    setup.sync_trip();
    setup.wait();
    assert_eq!(setup.bucket(), setup.photos());
    let foreign = "Trip/trip/by-hand.jpg";
    write_file(&setup.server.bucket_dir().join(foreign), b"foreign");

    setup.proxy.set_faults(true);
    let off = setup.daemon.json(&["sync", "off", "Trip", "--yes"]);
    assert_eq!(off["deletes_queued"], 40);
    setup.wait();

    let foreign_only = BTreeMap::from([(
        foreign.to_owned(),
        blake3::hash(b"foreign").to_hex().to_string(),
    )]);
    assert_eq!(setup.bucket(), foreign_only);
    assert_eq!(setup.job_states("delete"), all(&setup.photos(), "done"));
    setup.assert_idle_without_failures();
    let counts = setup.proxy.counts();
    eprintln!("fault proxy: {counts:?}");
    assert!(
        counts.cut_requests > 0 && counts.cut_replies > 0 && counts.stalls > 0,
        "cuts and stalls were injected: {counts:?}"
    );
}
