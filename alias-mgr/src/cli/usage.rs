//! clap's usage errors as one `alias-mgr: error:` line, like every other
//! error: what is wrong, clap's tip, then the usage and where the help is
//! (clap prints several lines, the last of them blank-separated, which
//! scripts and journald split into separate events). `--help` and
//! `--version` still print as clap prints them.

use std::process::ExitCode;

use clap::error::{Error, ErrorKind};

use super::output;

/// Prints a parse failure and returns clap's status (0 for help and version).
pub(super) fn refuse(err: Error) -> ExitCode {
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        err.exit();
    }
    let rendered = err.render().to_string();
    let line = if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        missing_command(&rendered)
    } else {
        one_line(&rendered)
    };
    output::error_line(format_args!("alias-mgr: error: {line}"));
    ExitCode::from(2)
}

/// `alias-mgr SUB` from a usage line `alias-mgr SUB [OPTIONS] <ARGS>`.
fn command_of(usage: &str) -> String {
    usage
        .split_whitespace()
        .take_while(|w| !w.starts_with(['[', '<']))
        .collect::<Vec<_>>()
        .join(" ")
}

/// "error: WHAT:\n  DETAIL\n\n  tip: TIP\n\nUsage: U\n\nFor more..." as
/// "WHAT: DETAIL; tip: TIP; usage: U (run `COMMAND --help`)".
fn one_line(rendered: &str) -> String {
    let mut text = String::new();
    let mut usage = None;
    for line in rendered.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(found) = line.strip_prefix("Usage: ") {
            usage = Some(found.to_string());
        } else if !line.starts_with("For more information") {
            let line = line.strip_prefix("error: ").unwrap_or(line);
            if !text.is_empty() {
                text.push_str(if text.ends_with(':') { " " } else { "; " });
            }
            text.push_str(line);
        }
    }
    let usage = usage.unwrap_or_else(|| "alias-mgr [OPTIONS] <COMMAND>".into());
    let help = command_of(&usage);
    format!("{text}; usage: {usage} (run `{help} --help` for more)")
}

/// clap's help for `alias-mgr counters` without a subcommand, as one line
/// naming the subcommands.
fn missing_command(rendered: &str) -> String {
    let usage = rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .unwrap_or("alias-mgr <COMMAND>");
    let command = command_of(usage);
    let commands: Vec<&str> = rendered
        .lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    format!(
        "`{command}` needs a subcommand: {}; run `{command} --help` for what each does",
        commands.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn refused(args: &[&str]) -> String {
        let err = Cli::try_parse_from(args).unwrap_err();
        let rendered = err.render().to_string();
        if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            missing_command(&rendered)
        } else {
            one_line(&rendered)
        }
    }

    #[test]
    fn usage_errors_become_one_line_with_the_usage() {
        let line = refused(&["alias-mgr", "add", "eth1"]);
        assert_eq!(
            line,
            "the following required arguments were not provided: <ADDRESS>; usage: alias-mgr add <INTERFACE> <ADDRESS> (run `alias-mgr add --help` for more)"
        );
        let line = refused(&["alias-mgr", "aply"]);
        assert!(
            line.starts_with("unrecognized subcommand 'aply'; tip: a similar subcommand exists: 'apply'; usage: alias-mgr [OPTIONS] <COMMAND>"),
            "{line}"
        );
        assert!(!line.contains('\n'), "{line}");
    }

    #[test]
    fn a_missing_subcommand_names_the_subcommands() {
        assert_eq!(
            refused(&["alias-mgr", "counters"]),
            "`alias-mgr counters` needs a subcommand: attach, detach, track, untrack, show; run `alias-mgr counters --help` for what each does"
        );
    }
}
