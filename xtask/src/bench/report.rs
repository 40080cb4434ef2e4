//! The report: Markdown printed as it is measured, then written into
//! BENCHMARKS.md between markers (the rest of that file is history).

use std::path::Path;

use anyhow::{Context, Result};

const BEGIN: &str = "<!-- cargo xtask bench: begin (generated, do not edit) -->";
const END: &str = "<!-- cargo xtask bench: end -->";

#[derive(Default)]
pub(crate) struct Report {
    text: String,
}

impl Report {
    /// A line, printed now and kept.
    pub(crate) fn line(&mut self, line: impl AsRef<str>) {
        println!("{}", line.as_ref());
        self.text.push_str(line.as_ref());
        self.text.push('\n');
    }

    /// A table: a blank line, the header, its rule, the rows.
    pub(crate) fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        self.line("");
        self.line(format!("| {} |", header.join(" | ")));
        self.line(format!("|{}", " --- |".repeat(header.len())));
        for row in rows {
            self.line(format!("| {} |", row.join(" | ")));
        }
    }

    /// Replaces the generated block of `path` (or puts one after its title).
    pub(crate) fn write_into(&self, path: &Path) -> Result<()> {
        let old = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".into());
        let block = format!("{BEGIN}\n{}{END}\n", self.text);
        let new = match (old.find(BEGIN), old.find(END)) {
            (Some(start), Some(end)) if start < end => {
                format!(
                    "{}{block}\n{}",
                    &old[..start],
                    &old[end + END.len()..].trim_start_matches('\n')
                )
            }
            _ => match old.split_once('\n') {
                Some((title, rest)) => format!("{title}\n\n{block}\n{rest}"),
                None => format!("{old}\n\n{block}"),
            },
        };
        std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_replaces_only_the_generated_block() {
        let path = std::env::temp_dir().join(format!("report-test-{}.md", std::process::id()));
        std::fs::write(
            &path,
            format!("# B\n\nintro\n\n{BEGIN}\nold\n{END}\n\n# History\nkept\n"),
        )
        .unwrap();
        let mut report = Report::default();
        report.line("new figures");
        report.write_into(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            text,
            format!("# B\n\nintro\n\n{BEGIN}\nnew figures\n{END}\n\n# History\nkept\n")
        );
    }
}
