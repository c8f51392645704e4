//! Integration tests of the daemon process itself: instance lock, control
//! socket security, signals, config.

mod lifecycle;
mod socket;
