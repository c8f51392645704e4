//! End-to-end tests of the catalog: the real `syncrolld` on temp dirs,
//! driven through the real `syncroll` binary.

mod collections;
mod errors;
mod photos;
mod roots;
mod s3;
mod sync;
mod watcher;
