//! Integration tests of the daemon process itself: instance lock, control
//! socket security, signals, config, and the version store.

mod bad_input;
mod lifecycle;
mod sd_notify;
mod service_files;
mod socket;
mod versions;
