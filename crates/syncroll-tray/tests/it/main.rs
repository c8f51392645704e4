//! End-to-end tests of `syncroll-tray`: the real tray binary on a private
//! D-Bus session bus (a real `dbus-daemon`) with a StatusNotifierWatcher
//! and a notification server implemented in the test ([`bus`]), following
//! a real `syncrolld` on temp dirs.

mod bus;
mod tray;

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use syncroll_testkit::{Daemon, EVENT_TIMEOUT, bin_path, wait_until};
use tempfile::TempDir;

use crate::bus::Bus;

/// The item as a panel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemState {
    pub status: String,
    pub icon: String,
    pub title: String,
    pub text: String,
}

/// A running `syncroll-tray`, killed when dropped (its log printed if
/// the test failed).
#[derive(Debug)]
pub struct Tray {
    child: Child,
    log: PathBuf,
    /// The bus name it registered with the watcher.
    pub service: String,
    _dir: TempDir,
}

impl Tray {
    /// Starts the tray on `bus` for `daemon`'s socket and waits until its
    /// item registers with the watcher.
    pub fn start(bus: &Bus, daemon: &Daemon) -> Self {
        Self::start_with_env(bus, daemon, &[])
    }

    /// [`Tray::start`] with extra environment.
    pub fn start_with_env(bus: &Bus, daemon: &Daemon, env: &[(&str, &std::ffi::OsStr)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("syncroll-tray.log");
        let child = Command::new(bin_path("syncroll-tray"))
            .arg("--socket")
            .arg(&daemon.socket)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("RUST_LOG", "info,syncroll_tray=debug")
            .env_remove("SYNCROLL_SOCKET")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn syncroll-tray");
        let mut tray = Self {
            child,
            log,
            service: String::new(),
            _dir: dir,
        };
        tray.service = wait_until(EVENT_TIMEOUT, "the tray item to register", || {
            if let Ok(Some(status)) = tray.child.try_wait() {
                panic!("syncroll-tray exited with {status}; log:\n{}", tray.log());
            }
            bus.registered_items().first().cloned().ok_or(())
        });
        tray
    }

    /// Waits for the tray to exit by itself.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        wait_until(EVENT_TIMEOUT, "syncroll-tray to exit", || {
            match self.child.try_wait() {
                Ok(Some(status)) => Ok(status),
                other => Err(other.map_err(|e| e.to_string())),
            }
        })
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many events of `kind` the tray handled (its log's marker).
    pub fn handled(&self, kind: &str) -> usize {
        self.log()
            .lines()
            .filter(|line| line.contains("event handled") && line.contains(kind))
            .count()
    }

    /// The item's state, read over D-Bus.
    pub fn state(&self, bus: &Bus) -> Result<ItemState, String> {
        let (title, text) = bus.item_tooltip(&self.service)?;
        Ok(ItemState {
            status: bus.item_string(&self.service, "Status")?,
            icon: bus.item_string(&self.service, "IconName")?,
            title,
            text,
        })
    }

    /// Waits until the item's state passes `check`.
    #[track_caller]
    pub fn wait_for(&self, bus: &Bus, what: &str, check: impl Fn(&ItemState) -> bool) -> ItemState {
        wait_until(EVENT_TIMEOUT, what, || match self.state(bus) {
            Ok(state) if check(&state) => Ok(state),
            other => Err(other),
        })
    }
}

impl Drop for Tray {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- syncroll-tray log ---\n{}", self.log());
        }
    }
}
