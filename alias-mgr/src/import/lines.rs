//! The logical lines all three formats are read as: `\\` continuations
//! joined, comments dropped, each numbered by its first physical line.

use super::ImportError;

/// Carries the source name so every error can say `FILE:LINE`.
pub(super) struct Ctx<'a> {
    pub(super) source_name: &'a str,
}

impl Ctx<'_> {
    pub(super) fn err(&self, line: usize, message: impl Into<String>) -> ImportError {
        ImportError {
            source_name: self.source_name.to_string(),
            line,
            message: message.into(),
        }
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
