//! A scan merges its walk with the catalog's rows page by page: the pages
//! of a scope must hold exactly its rows (the scope itself and what lies
//! below it, never a sibling that sorts between them), in byte order,
//! whatever the page size.

use syncroll_core::reconcile::FoundFile;
use syncroll_core::root_identity::{self, FolderIdentity, FolderProbe};
use syncroll_core::store::PhotoChanges;
use syncroll_core::{ContentHash, FileStat, RelPath, Store};

const FOLDER: FolderIdentity = FolderIdentity {
    device: 1,
    inode: 2,
};

/// Names that sort around the scope "a": "a-b" and "a.jpg" lie between
/// "a" and "a/", "a0" after everything under "a/"; and raw bytes.
const PATHS: &[&[u8]] = &[
    b"a",
    b"a b/x.jpg",
    b"a-b/x.jpg",
    b"a.jpg",
    b"a/1.jpg",
    b"a/b/2.jpg",
    b"a/b-c.jpg",
    b"a/b/c/3.jpg",
    b"a/\xe9.jpg",
    b"a/\xff.jpg",
    b"a0/x.jpg",
    b"b.jpg",
];

#[tokio::test]
async fn pages_of_a_scope_hold_exactly_its_rows_in_byte_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("catalog.sqlite"))
        .await
        .unwrap();
    std::fs::create_dir(dir.path().join("photos")).unwrap();
    let root = store
        .add_root(&dir.path().join("photos"), FOLDER)
        .await
        .unwrap();
    let present = FolderProbe::Present {
        identity: FOLDER,
        empty: false,
    };
    let verified = root_identity::verify(&root, &present, 0).unwrap();
    let changes = PhotoChanges {
        added: PATHS
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let file = FoundFile {
                    rel_path: RelPath::from_bytes(path.to_vec()),
                    stat: FileStat {
                        size: 1,
                        mtime_ns: 1,
                        inode: i as u64 + 1,
                    },
                };
                (file, ContentHash([i as u8; 32]))
            })
            .collect(),
        ..Default::default()
    };
    store
        .apply_photo_changes(&verified, &changes)
        .await
        .unwrap();

    for scope in [&b""[..], b"a", b"a/b", b"a.jpg", b"a/1.jpg", b"zzz"] {
        let scope = RelPath::from_bytes(scope.to_vec());
        let mut expected: Vec<&[u8]> = PATHS
            .iter()
            .copied()
            .filter(|p| scope.contains(&RelPath::from_bytes(p.to_vec())))
            .collect();
        expected.sort();
        for limit in [1, 2, 3, 100] {
            let mut listed = Vec::new();
            let mut after: Option<RelPath> = None;
            for _ in 0..=PATHS.len() {
                let page = store
                    .indexed_files_page(root.id, &scope, after.as_ref(), limit)
                    .await
                    .unwrap();
                let full = page.len() as u32 == limit;
                after = page.last().map(|row| row.rel_path.clone()).or(after);
                listed.extend(page.into_iter().map(|row| row.rel_path.as_bytes().to_vec()));
                if !full {
                    break;
                }
            }
            assert_eq!(listed, expected, "scope {scope:?}, pages of {limit}");
        }
    }
}
