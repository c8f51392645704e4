//! `syncroll-tray`: the desktop tray helper of `syncrolld`.
//!
//! [`model::TrayModel`] computes what the tray shows (icon, status, tooltip,
//! menu) from a [`snapshot::Snapshot`] of the daemon's status;
//! [`notices::Notices`] decides which feed events become notifications and
//! rate-limits them; [`link::Link`] keeps the connection to the daemon and
//! carries out menu actions; [`platform`] draws it all on a desktop (a
//! StatusNotifierItem on Linux).
//!
//! API boundary: only [`platform`] knows D-Bus; the rest is plain data and
//! is tested without a bus. Like the CLI, the tray speaks only the control
//! API, through `syncroll-client`.

pub mod launch;
pub mod link;
pub mod model;
pub mod notices;
pub mod platform;
pub mod schedule;
pub mod snapshot;
