//! `alias-mgr check`: validates a config file and changes nothing, for the
//! validate hooks of config management (Ansible's `validate: 'alias-mgr
//! check --config %s'`, Puppet's `validate_cmd`). The file goes through
//! every rule the loader applies (syntax, keys, addresses, zones); where
//! the host can be read, it is also planned against it, and a conflict
//! `apply` would refuse is an error too. Exit status: 0 valid, 1 invalid
//! (the diagnostics say where and why), 2 a usage error.

use std::path::Path;

use anyhow::{bail, Result};
use serde::Serialize;

use super::{
    common::{desired, require_config},
    output::say,
};
use crate::{
    config::{dropins, ConfigError, ConfigFile},
    core::plan::Scope,
    kernel::Kernel,
    sys::bpf::PinDir,
};

/// One finding, as `FILE:LINE:COLUMN: SEVERITY: MESSAGE` prints it (line and
/// column left out where the problem is the whole file or the host).
#[derive(Debug, Serialize)]
struct Diagnostic {
    severity: &'static str,
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
    message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:", self.file)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, "{line}:{column}:")?;
        }
        write!(f, " {}: {}", self.severity, self.message)
    }
}

#[derive(Debug, Serialize)]
struct Report {
    file: String,
    valid: bool,
    /// Whether the file was also planned against this host.
    host_checked: bool,
    /// The conf.d files merged after it, in order.
    drop_ins: Vec<String>,
    diagnostics: Vec<Diagnostic>,
}

pub(super) async fn check_command(
    config: &Path,
    drop_ins: Option<&Path>,
    pins: PinDir,
    json: bool,
) -> Result<()> {
    let file_name = config.display().to_string();
    let mut report = Report {
        file: file_name.clone(),
        valid: true,
        host_checked: false,
        drop_ins: Vec::new(),
        diagnostics: Vec::new(),
    };
    let finding = |severity, message: String| Diagnostic {
        severity,
        file: file_name.clone(),
        line: None,
        column: None,
        message,
    };
    let loaded = require_config(config)
        .map_err(|err| finding("error", format!("{err:#}")))
        .and_then(|()| {
            let dir = drop_ins.map_or_else(|| dropins::dir(config), Path::to_path_buf);
            ConfigFile::load_with_drop_ins_in(config, &dir)
                .map_err(|err| from_config_error(&file_name, &err))
        });
    match loaded {
        Err(diagnostic) => report.diagnostics.push(diagnostic),
        Ok(file) => {
            report.drop_ins = file
                .drop_in_paths()
                .map(|p| p.display().to_string())
                .collect();
            match host_findings(&file, pins).await {
                Ok(findings) => {
                    report.host_checked = true;
                    report.diagnostics.extend(
                        findings
                            .into_iter()
                            .map(|(severity, message)| finding(severity, message)),
                    );
                }
                Err(why) => report.diagnostics.push(finding(
                    "note",
                    format!("not checked against this host ({why:#}); the file itself is valid"),
                )),
            }
        }
    }
    report.valid = !report.diagnostics.iter().any(|d| d.severity == "error");
    if json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for diagnostic in &report.diagnostics {
            say!("{diagnostic}");
        }
        if report.valid && report.drop_ins.is_empty() {
            say!("{file_name}: valid");
        } else if report.valid {
            say!("{file_name}: valid, with {}", report.drop_ins.join(", "));
        }
    }
    let errors = report
        .diagnostics
        .iter()
        .filter(|d| d.severity == "error")
        .count();
    if errors > 0 {
        bail!("{file_name} is not valid: {errors} error(s), listed above");
    }
    Ok(())
}

/// The loader's error, with its position where it has one.
/// The file is the error's own: a drop-in's problem is in the drop-in.
fn from_config_error(file: &str, err: &ConfigError) -> Diagnostic {
    let in_file = |path: &std::path::Path| path.display().to_string();
    let (file, line, column, message) = match err {
        ConfigError::Syntax {
            path,
            line,
            column,
            message,
        } => (
            in_file(path),
            Some(*line),
            Some(*column),
            format!("TOML syntax error: {message}"),
        ),
        ConfigError::Invalid {
            path,
            line,
            column,
            message,
        } => (in_file(path), Some(*line), Some(*column), message.clone()),
        ConfigError::NotUtf8 {
            path,
            line,
            column,
            offset,
        } => (
            in_file(path),
            Some(*line),
            Some(*column),
            format!("the byte at offset {offset} is not UTF-8; the config must be UTF-8 text: remove that byte or convert the file (e.g. with iconv)"),
        ),
        // The rest are about the whole file and name it themselves.
        other => (file.to_string(), None, None, other.to_string()),
    };
    Diagnostic {
        severity: "error",
        file,
        line,
        column,
        message,
    }
}

/// What planning the file against this host finds: conflicts (`apply`
/// would refuse) as errors, notes as notes. Err when the host cannot be
/// read (no netlink, nft without permission).
async fn host_findings(file: &ConfigFile, pins: PinDir) -> Result<Vec<(&'static str, String)>> {
    let kernel = Kernel::new(pins)?;
    let (_, plan) = kernel
        .plan(&desired(file, &file.config().aliases), Scope::All)
        .await?;
    let conflicts = plan
        .conflicts
        .into_iter()
        .map(|c| ("error", format!("conflict with this host: {c}")));
    let notes = plan.notes.into_iter().map(|n| ("note", n));
    Ok(conflicts.chain(notes).collect())
}
