//! syncroll-remote's integration tests: backends driven through the public
//! API against real servers on loopback (the server is syncroll-testkit's).

#[path = "../shared/cut.rs"]
mod cut;
mod local;
mod pull;
mod s3;
mod s3_server;
mod webdav;
