//! Fuzzing the config parser with proptest (stable Rust): documents built
//! from the file's own vocabulary, broken in every way the pieces allow,
//! and raw text. The parser must never panic; what it accepts must survive
//! an edit round trip byte for byte, and what it refuses must point inside
//! the file. `PROPTEST_CASES=200000 cargo test -p alias-mgr --lib fuzz`
//! runs longer; failures found are kept in proptest-regressions/.

use std::path::Path;

use proptest::prelude::*;

use super::{ConfigError, ConfigFile};
use crate::core::fixtures::alias;

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"eth1\"".to_string()),
        Just("\"eth1:0\"".to_string()),
        Just("\"192.168.0.1/24\"".to_string()),
        Just("\"192.168.0.1\"".to_string()),
        Just("\"192.168.0.1/255.255.255.0\"".to_string()),
        Just("\"2001:db8::1/64\"".to_string()),
        Just("\"10.0.0.0/8\"".to_string()),
        Just("\"224.0.0.1/4\"".to_string()),
        Just("\"lab\"".to_string()),
        Just("\"drop\"".to_string()),
        Just("[\"tcp/22\", \"icmp\"]".to_string()),
        Just("[\"10.9.0.0/16@192.168.0.254\"]".to_string()),
        Just("{ lab = \"accept\" }".to_string()),
        Just("true".to_string()),
        Just("42".to_string()),
        Just("[]".to_string()),
        "\"[^\"\\\\\n]{0,20}\"".prop_map(|s| s),
        any::<i64>().prop_map(|n| n.to_string()),
    ]
}

fn line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("interface"),
        Just("address"),
        Just("label"),
        Just("zone"),
        Just("routes"),
        Just("subnets"),
        Just("input"),
        Just("allow"),
        Just("forward"),
        Just("promote_secondaries"),
        Just("counters"),
        Just("adress"),
    ];
    prop_oneof![
        4 => (key, value()).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => Just("[[alias]]".to_string()),
        1 => Just("[settings]".to_string()),
        1 => Just("[zone.lab]".to_string()),
        1 => Just("[zone.dmz]".to_string()),
        1 => Just("# a comment".to_string()),
        1 => Just(String::new()),
        1 => "[^\n]{0,30}".prop_map(|s| s),
    ]
}

fn document() -> impl Strategy<Value = String> {
    prop::collection::vec(line(), 0..40).prop_map(|lines| lines.join("\n"))
}

/// What an accepted file must allow: adding an alias and removing it again
/// gives back every line as it was, byte for byte; only blank lines at the
/// very end may come out differently (appending a block normalizes them).
fn round_trips(file: &ConfigFile) {
    let fresh = alias("eth9", "198.18.77.1/32");
    let mut edited = file.clone();
    if edited.add_alias(&fresh).is_ok() {
        assert!(edited.remove_alias("eth9", fresh.ip()));
        assert_eq!(edited.render().trim_end(), file.render().trim_end());
    }
}

fn check(text: &str) {
    match ConfigFile::parse(Path::new("fuzz.toml"), text) {
        Ok(file) => round_trips(&file),
        Err(
            ConfigError::Syntax { line, message, .. } | ConfigError::Invalid { line, message, .. },
        ) => {
            assert!(
                line >= 1 && line <= text.lines().count().max(1) + 1,
                "line {line}"
            );
            assert!(!message.is_empty());
        }
        Err(other) => panic!("parse gave {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_config_documents(text in document()) {
        check(&text);
    }

    #[test]
    fn fuzz_config_raw_text(text in any::<String>()) {
        check(&text);
    }
}

#[test]
fn syntax_errors_toml_gives_no_reason_for_still_say_what_is_wrong() {
    // Found by the fuzzer: toml_edit's message is empty for these.
    for (text, needle) in [("a=", "the file ends here"), ("\r", "carriage return")] {
        let err = ConfigFile::parse(Path::new("t.toml"), text).unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains(needle), "{text:?}: {shown}");
        assert!(shown.contains("`key = value`"), "{shown}");
    }
}
