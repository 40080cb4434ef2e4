//! Fuzzing the importers with proptest: files built from each format's
//! own words (and broken in every way those allow), and raw text. No input
//! may panic an importer; what one accepts must be a valid config (it
//! merges into an empty file). `PROPTEST_CASES=200000 cargo test -p
//! alias-mgr --lib fuzz` runs longer; failures are kept in
//! proptest-regressions/.

use std::path::Path;

use proptest::prelude::*;

use super::{parse, test_util::MemFiles, ImportFormat};
use crate::config::ConfigFile;

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("eth1".to_string()),
        Just("eth1:0".to_string()),
        Just("eth1:1".to_string()),
        Just("en0".to_string()),
        Just("192.168.0.1".to_string()),
        Just("192.168.0.1/24".to_string()),
        Just("192.168.0.255".to_string()),
        Just("10.0.0.1/255.0.0.0".to_string()),
        Just("2001:db8::1/64".to_string()),
        Just("255.255.255.0".to_string()),
        Just("0xffffff00".to_string()),
        Just("24".to_string()),
        Just("inet".to_string()),
        Just("inet6".to_string()),
        Just("static".to_string()),
        Just("dhcp".to_string()),
        Just("manual".to_string()),
        Just("netmask".to_string()),
        Just("prefixlen".to_string()),
        Just("alias".to_string()),
        Just("add".to_string()),
        Just("del".to_string()),
        Just("dev".to_string()),
        Just("label".to_string()),
        Just("via".to_string()),
        Just("gw".to_string()),
        Just("up".to_string()),
        Just("$IFACE".to_string()),
        Just("\\".to_string()),
        Just("#".to_string()),
        "[^\n ]{1,12}".prop_map(|s| s),
    ]
}

fn line() -> impl Strategy<Value = String> {
    let words = prop::collection::vec(word(), 0..8)
        .prop_map(|w| w.join(" "))
        .boxed();
    prop_oneof![
        3 => words.clone(),
        2 => words.clone().prop_map(|w| format!("  {w}")),
        1 => words.clone().prop_map(|w| format!("iface {w}")),
        1 => words.clone().prop_map(|w| format!("  address {w}")),
        1 => words.clone().prop_map(|w| format!("  up ip addr add {w}")),
        1 => words.clone().prop_map(|w| format!("  up ifconfig {w}")),
        1 => words.clone().prop_map(|w| format!("  up route add {w}")),
        1 => words.clone().prop_map(|w| format!("auto {w}")),
        1 => Just("mapping eth1\n  script /bin/true".to_string()),
        1 => Just("source /etc/network/interfaces.d/*".to_string()),
        1 => Just("source-directory interfaces.d".to_string()),
        1 => Just("source /etc/network/interfaces".to_string()),
        1 => words.prop_map(|w| format!("iface eth1:0 inet static inherits {w}")),
    ]
}

fn file() -> impl Strategy<Value = String> {
    prop::collection::vec(line(), 0..30).prop_map(|lines| lines.join("\n"))
}

fn check(text: &str) {
    for format in ImportFormat::ALL {
        let files = MemFiles::new(&[(
            "/etc/network/interfaces.d/eth1",
            "iface eth1:5 inet static\n address 10.5.0.1/24\n",
        )]);
        match parse(format, Path::new("/etc/network/interfaces"), text, &files) {
            Ok(imported) => {
                let mut config = ConfigFile::parse(Path::new("fuzz.toml"), "").unwrap();
                if let Err(err) = config.merge_aliases(&imported.aliases) {
                    panic!("{format}: imported aliases are no valid config: {err}\n{imported:?}");
                }
            }
            Err(err) => {
                assert!(err.line >= 1, "{format}: line {}", err.line);
                assert!(!err.message.is_empty(), "{format}: empty message");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_import_files(text in file()) {
        check(&text);
    }

    #[test]
    fn fuzz_import_raw_text(text in any::<String>()) {
        check(&text);
    }
}

#[test]
fn iftab_and_ifaliases_refuse_a_bad_interface_column_at_its_line() {
    // Found by the fuzzer: an address in the interface column of iftab
    // went through to the config merge.
    let err = crate::import::parse_iftab("iftab", "2001:db8::1/64 10.0.0.1/8 alias\n").unwrap_err();
    assert_eq!(err.line, 1);
    assert!(err.message.contains("contains ':'"), "{err}");
    let err = crate::import::parse_ifaliases("ifaliases", "10.0.0.1 eth\u{200b}1\n").unwrap_err();
    assert!(
        err.message.contains("not a valid Linux interface name"),
        "{err}"
    );
}
