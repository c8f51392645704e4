//! Starting other programs from the menu: a terminal running a review
//! command (`syncroll holds`, `syncroll conflicts`), and the desktop's
//! opener for the daemon's log.
//!
//! The terminal is `$SYNCROLL_TRAY_TERMINAL`, else `$TERMINAL`, else
//! Debian's `x-terminal-emulator`, else the first of a few common ones on
//! `PATH`; each is given the command as arguments after the option that
//! runs one (`-e`, but `--` for GNOME Terminal and `-x` for Xfce's). The
//! opener is `$SYNCROLL_TRAY_OPENER`, else `xdg-open`.
//! Either variable also lets a test see what would be run.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why a program could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(
        "no terminal found; set $TERMINAL (or SYNCROLL_TRAY_TERMINAL) to one, \
         or install x-terminal-emulator"
    )]
    NoTerminal,
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("cannot read the log folder {}: {source}", .dir.display())]
    LogDir {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// Terminals tried in order when nothing names one.
const TERMINALS: &[&str] = &[
    "x-terminal-emulator",
    "gnome-terminal",
    "konsole",
    "xfce4-terminal",
    "xterm",
];

/// Opens a terminal running `syncroll --socket SOCKET ARGS`, which waits
/// for Enter before closing so its output can be read.
pub fn review_in_terminal(socket: &Path, args: &[&str]) -> Result<(), LaunchError> {
    let terminal = terminal().ok_or(LaunchError::NoTerminal)?;
    let command = review_command(&terminal, &syncroll_program(), socket, args);
    spawn_detached(command, &terminal.to_string_lossy())
}

/// `terminal` running `sh -c SCRIPT syncroll --socket SOCKET ARGS`: the
/// script runs its own arguments (`"$0" "$@"`), so no path or argument is
/// ever parsed by the shell, whatever it holds.
fn review_command(terminal: &OsStr, syncroll: &Path, socket: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(terminal);
    command
        .args([exec_flag(terminal), "sh", "-c", REVIEW_SCRIPT])
        .arg(syncroll)
        .arg("--socket")
        .arg(socket)
        .args(args);
    command
}

/// Runs the command in its arguments, then waits for Enter.
const REVIEW_SCRIPT: &str = r#""$0" "$@"; printf '\nPress Enter to close. '; read -r _"#;

/// The option after which `terminal` runs the rest of its arguments as a
/// command. Most take `-e`; GNOME Terminal's `-e` (deprecated) and Xfce's
/// take one string they split themselves, and would read `-c` as an option
/// of their own and refuse to start.
fn exec_flag(terminal: &OsStr) -> &'static str {
    match Path::new(terminal).file_name().and_then(OsStr::to_str) {
        Some("gnome-terminal") => "--",
        Some("xfce4-terminal") => "-x",
        _ => "-e",
    }
}

/// Opens the daemon's newest log file in `<data-dir>/logs` (the daemon
/// writes one a day, `syncrolld.YYYY-MM-DD.log`), or the folder if it
/// holds none.
pub fn open_log(data_dir: &Path) -> Result<(), LaunchError> {
    let dir = data_dir.join("logs");
    let target = newest_log(&dir)?.unwrap_or(dir);
    let opener = env_program("SYNCROLL_TRAY_OPENER").unwrap_or_else(|| "xdg-open".into());
    let mut command = Command::new(&opener);
    command.arg(target);
    spawn_detached(command, &opener.to_string_lossy())
}

/// The newest `syncrolld.*.log` in `dir`; daily names sort by date.
fn newest_log(dir: &Path) -> Result<Option<PathBuf>, LaunchError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(LaunchError::LogDir {
                dir: dir.to_owned(),
                source,
            });
        }
    };
    Ok(entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("syncrolld") && name.ends_with(".log"))
        })
        .max())
}

/// The `syncroll` installed beside this program (`cargo install` and
/// packages put them together), else the one on `PATH`.
fn syncroll_program() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("syncroll")))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("syncroll"))
}

fn terminal() -> Option<OsString> {
    env_program("SYNCROLL_TRAY_TERMINAL")
        .or_else(|| env_program("TERMINAL"))
        .or_else(|| {
            TERMINALS
                .iter()
                .find(|name| on_path(name))
                .map(OsString::from)
        })
}

fn env_program(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|value| !value.is_empty())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Starts `command` without waiting for it; a reaper thread collects its
/// exit so no zombie is left.
fn spawn_detached(mut command: Command, program: &str) -> Result<(), LaunchError> {
    let mut child = command
        .stdin(Stdio::null())
        .spawn()
        .map_err(|source| LaunchError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    std::thread::spawn(move || child.wait());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_of(command: &Command) -> Vec<&str> {
        command.get_args().map(|a| a.to_str().unwrap()).collect()
    }

    #[test]
    fn each_terminal_is_told_to_run_the_rest_of_its_arguments() {
        let run = |terminal: &str| {
            let command = review_command(
                OsStr::new(terminal),
                Path::new("syncroll"),
                Path::new("/s"),
                &["holds"],
            );
            args_of(&command)[..3].join(" ")
        };
        assert_eq!(run("/usr/bin/gnome-terminal"), "-- sh -c");
        assert_eq!(run("xfce4-terminal"), "-x sh -c");
        assert_eq!(run("xterm"), "-e sh -c");
        assert_eq!(run("x-terminal-emulator"), "-e sh -c");
    }

    #[test]
    fn paths_and_arguments_reach_syncroll_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("it's; touch pwned $(id).sock");
        let command = review_command(
            OsStr::new("xterm"),
            Path::new("echo"),
            &socket,
            &["holds; touch pwned", "$HOME"],
        );
        // What the terminal would run, its input closed.
        let output = Command::new("sh")
            .args(&args_of(&command)[2..])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&output.stdout);
        let expected = format!("--socket {} holds; touch pwned $HOME\n", socket.display());
        assert!(shown.starts_with(&expected), "{shown:?}");
        assert!(!dir.path().join("pwned").exists());
    }

    #[test]
    fn the_newest_daily_log_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "syncrolld.2026-01-01.log",
            "syncrolld.2026-01-03.log",
            "other.txt",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        assert_eq!(
            newest_log(dir.path()).unwrap(),
            Some(dir.path().join("syncrolld.2026-01-03.log"))
        );
        assert_eq!(newest_log(&dir.path().join("none")).unwrap(), None);
    }
}
