//! Integration tests of the daemon process itself: instance lock, control
//! socket security, signals, config.

mod bad_input;
mod lifecycle;
mod socket;
