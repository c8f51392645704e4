//! Shell completions and man pages, generated from the command line's own
//! clap definitions (`cli.rs`), so they never drift from it.

use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::output::Failure;

/// `syncroll completions SHELL`: the script on stdout.
pub fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "syncroll", &mut std::io::stdout());
    ExitCode::SUCCESS
}

/// `syncroll man DIR`: `syncroll.1`, and `syncroll-SUB.1` for every
/// subcommand at every depth (`syncroll-roots-add.1`), as git and cargo
/// name theirs. Returns how many pages were written.
pub fn man_pages(dir: &Path) -> Result<u64, Failure> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::Input(format!("cannot make the folder {}: {e}", dir.display())))?;
    let mut command = Cli::command();
    // Resolves global flags and usage lines into every subcommand.
    command.build();
    let mut written = 0;
    write_page(&command, "syncroll", dir, &mut written)?;
    Ok(written)
}

fn write_page(
    command: &clap::Command,
    name: &str,
    dir: &Path,
    written: &mut u64,
) -> Result<(), Failure> {
    // clap takes a `'static` name without its `string` feature; a few
    // dozen short names, once, in a process about to exit.
    let static_name: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let page = command.clone().name(static_name);
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .map_err(|e| Failure::Input(format!("cannot render the man page of {name}: {e}")))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, roff)
        .map_err(|e| Failure::Input(format!("cannot write {}: {e}", path.display())))?;
    *written += 1;
    for sub in command.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        write_page(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}
