//! The logical lines all three formats are read as: `\\` continuations
//! joined, comments dropped, each numbered by its first physical line.

use super::ImportError;

/// Says where a line is, so every error can name `FILE:LINE`.
///
/// iftab and ifaliases are one file and number their lines as they are.
/// ifupdown follows `source` lines, so its lines are positions across all
/// the files it read: each file's line N is at the file's base + N.
pub(super) enum Ctx<'a> {
    Single(&'a str),
    /// Each file read, in reading order, with the base of its positions.
    Files(&'a [(usize, String)]),
}

impl Ctx<'_> {
    /// The file and line of position `pos`.
    fn locate(&self, pos: usize) -> (&str, usize) {
        match self {
            Ctx::Single(name) => (name, pos),
            Ctx::Files(files) => files
                .iter()
                .rev()
                .find(|(base, _)| *base < pos)
                .or(files.first())
                .map_or(("", pos), |(base, name)| (name.as_str(), pos - base)),
        }
    }

    pub(super) fn err(&self, pos: usize, message: impl Into<String>) -> ImportError {
        let (source_name, line) = self.locate(pos);
        ImportError {
            source_name: source_name.to_string(),
            line,
            message: message.into(),
        }
    }

    /// Position `pos` as a message shows it: `line N`, or `FILE:N` when
    /// lines can come from several files.
    pub(super) fn at(&self, pos: usize) -> String {
        match self {
            Ctx::Single(_) => format!("line {pos}"),
            Ctx::Files(_) => {
                let (name, line) = self.locate(pos);
                format!("{name}:{line}")
            }
        }
    }

    /// A warning as the parsers write it, `line POS: ...`, with the
    /// position shown as [`Ctx::at`] shows it.
    pub(super) fn place(&self, warning: String) -> String {
        let Some((pos, rest)) = warning
            .strip_prefix("line ")
            .and_then(|rest| rest.split_once(": "))
            .and_then(|(pos, rest)| Some((pos.parse::<usize>().ok()?, rest)))
        else {
            return warning;
        };
        format!("{}: {rest}", self.at(pos))
    }
}

/// Lines after joining `\` continuations and dropping comments, numbered by
/// their first physical line so errors point where the user will look.
///
/// Continuations are joined before comments are removed, as ifupdown and the
/// shell `read` of the BSD rc scripts do.
pub(super) fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let raw = raw.trim_end();
        let (start, mut joined) = pending.take().unwrap_or((index + 1, String::new()));
        if let Some(head) = raw.strip_suffix('\\') {
            joined.push_str(head);
            joined.push(' ');
            pending = Some((start, joined));
            continue;
        }
        joined.push_str(raw);
        push_logical(&mut out, start, &joined);
    }
    if let Some((start, joined)) = pending {
        push_logical(&mut out, start, &joined);
    }
    out
}

fn push_logical(out: &mut Vec<(usize, String)>, start: usize, joined: &str) {
    let content = strip_comment(joined).trim();
    if !content.is_empty() {
        out.push((start, content.to_string()));
    }
}

/// A `#` starting a word begins a comment; one inside a word does not.
fn strip_comment(line: &str) -> &str {
    let mut after_space = true;
    for (index, c) in line.char_indices() {
        if c == '#' && after_space {
            return &line[..index];
        }
        after_space = c.is_whitespace();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_need_a_word_start() {
        assert_eq!(strip_comment("a b#c # d"), "a b#c ");
        assert_eq!(strip_comment("#x"), "");
    }
}
