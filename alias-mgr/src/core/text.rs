//! Quoting what a user wrote back to them: Debug-quoted so stray spaces and
//! invisible characters show, and cut short so a 50 MB value does not flood
//! the terminal or the journal.

/// A user's text for a message: Debug-quoted and, when long, cut after
/// about [`SHOWN_MAX`] bytes with its full length, so a pasted megabyte
/// does not flood the terminal and the log.
pub fn shown(text: &str) -> String {
    if text.len() <= SHOWN_MAX {
        let whole = format!("{text:?}");
        if whole.len() <= SHOWN_MAX + 2 {
            return whole;
        }
    }
    let mut cut = String::new();
    for (at, c) in text.char_indices() {
        // Each character as `{:?}` escapes it inside a string.
        let one = format!("{:?}", &text[at..at + c.len_utf8()]);
        let escaped = &one[1..one.len() - 1];
        if cut.len() + escaped.len() > SHOWN_MAX {
            break;
        }
        cut.push_str(escaped);
    }
    format!("\"{cut}\"… ({} bytes)", text.len())
}

pub const SHOWN_MAX: usize = 64;

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

/// FNV-1a of `bytes`: stable across Rust releases and builds, unlike
/// std's hasher, for names that must not change (fingerprints, lock files).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
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
    fn shown_quotes_and_cuts_long_values() {
        assert_eq!(shown("eth1:0"), "\"eth1:0\"");
        assert_eq!(shown("it's \"x\"\n"), format!("{:?}", "it's \"x\"\n"));
        let long = "a".repeat(1 << 20);
        assert_eq!(
            shown(&long),
            format!("\"{}\"… (1048576 bytes)", "a".repeat(64))
        );
        // Escapes count: 64 bytes of output, not 64 characters of input.
        let controls = "\u{1}".repeat(100);
        assert_eq!(
            shown(&controls),
            format!("\"{}\"… (100 bytes)", "\\u{1}".repeat(12))
        );
        // Never cut inside a character.
        let wide = "é".repeat(100);
        assert_eq!(shown(&wide), format!("\"{}\"… (200 bytes)", "é".repeat(32)));
    }
}
