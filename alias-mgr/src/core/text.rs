//! Quoting what a user wrote back to them: Debug-quoted so stray spaces and
//! invisible characters show, and cut short so a 50 MB value does not flood
//! the terminal or the journal.

/// Characters of a quoted value shown before it is cut.
const SHOWN_CHARS: usize = 64;

/// `text` quoted (`"eth1 "`, `"a\u{200b}b"`); past 64 characters, cut with
/// `…` and its whole length in bytes.
pub fn shown(text: &str) -> String {
    let mut cut = text.char_indices().nth(SHOWN_CHARS).map(|(at, _)| at);
    if let Some(at) = &mut cut {
        while !text.is_char_boundary(*at) {
            *at -= 1;
        }
    }
    match cut {
        None => format!("{text:?}"),
        Some(at) => format!("{:?}… ({} bytes)", &text[..at], text.len()),
    }
}

/// Characters that print as nothing (or reorder what follows) but make
/// two names that look the same differ: zero-width spaces and joiners,
/// bidirectional controls, the soft hyphen, variation selectors, BOM, tags.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{034f}'
            | '\u{061c}'
            | '\u{115f}'
            | '\u{1160}'
            | '\u{17b4}'
            | '\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff0}'..='\u{fff8}'
            | '\u{e0000}'..='\u{e0fff}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_characters_are_told_apart_from_letters() {
        for c in [
            '\u{200b}',
            '\u{200d}',
            '\u{feff}',
            '\u{202e}',
            '\u{00ad}',
            '\u{e0041}',
        ] {
            assert!(is_invisible(c), "{c:?}");
        }
        for c in ['a', 'é', '0', '-', 'ß', '日'] {
            assert!(!is_invisible(c), "{c:?}");
        }
    }

    #[test]
    fn short_values_are_quoted_whole_and_long_ones_cut() {
        assert_eq!(shown("eth1 "), "\"eth1 \"");
        assert_eq!(shown("a\u{200b}b"), "\"a\\u{200b}b\"");
        let long = "x".repeat(50 << 20);
        let text = shown(&long);
        assert!(text.len() < 100, "{text}");
        assert!(text.ends_with("… (52428800 bytes)"), "{text}");
        let wide = "é".repeat(100);
        assert_eq!(
            shown(&wide),
            format!("{:?}… (200 bytes)", "é".repeat(SHOWN_CHARS))
        );
    }
}
