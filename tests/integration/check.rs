//! `alias-mgr check`, as config management's validate hook runs it: exit
//! 0, 1 or 2, file:line:column diagnostics, JSON, and nothing changed.

use serde_json::Value;

use crate::util::{write, Lab};

/// Runs `check --config FILE [--json]`: (exit code, stdout, stderr).
fn check(lab: &Lab, file: &std::path::Path, json: bool) -> (i32, String, String) {
    let mut args = vec!["check", "--config", file.to_str().unwrap()];
    if json {
        args.push("--json");
    }
    let out = lab.alias_mgr(&args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_says_valid_invalid_or_usage_by_exit_status_and_changes_nothing() {
    let lab = Lab::new();
    let addresses_before = lab.host.json(&["ip", "-j", "-4", "addr"]);
    // The candidate file: a temporary copy, as Ansible validates it.
    let candidate = lab.dir.join("candidate.toml");

    write(
        &candidate,
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.0.1/24\"\nzone = \"lab\"\n\n[zone.lab]\ninput = \"drop\"\n",
    );
    let (code, stdout, _) = check(&lab, &candidate, false);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("valid"), "{stdout}");

    // A bad key, found where it is.
    write(
        &candidate,
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.0.1/24\"\nzome = \"lab\"\n",
    );
    let (code, stdout, stderr) = check(&lab, &candidate, false);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let file = candidate.display().to_string();
    assert!(
        stdout.starts_with(&format!("{file}:4:1: error: ")) && stdout.contains("zome"),
        "{stdout}"
    );
    assert!(stderr.contains("is not valid"), "{stderr}");

    // A syntax error, in JSON.
    write(&candidate, "[[alias]]\ninterface = \"eth1\n");
    let (code, stdout, _) = check(&lab, &candidate, true);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["valid"], false);
    let first = &report["diagnostics"][0];
    assert_eq!(first["severity"], "error");
    assert_eq!(first["line"], 2, "{report}");
    assert!(first["column"].as_u64().is_some(), "{report}");

    // Valid as a file, but this host has the address by hand: apply would
    // refuse, so check does too.
    lab.host
        .sh(&["ip", "addr", "add", "10.80.0.1/24", "dev", "eth1"]);
    write(
        &candidate,
        "[[alias]]\ninterface = \"eth1\"\naddress = \"10.80.0.1/24\"\n",
    );
    let (code, stdout, _) = check(&lab, &candidate, true);
    assert_eq!(code, 1, "{stdout}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["host_checked"], true);
    assert!(
        report["diagnostics"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("conflict with this host"),
        "{report}"
    );
    lab.host
        .sh(&["ip", "addr", "del", "10.80.0.1/24", "dev", "eth1"]);

    // A missing file is invalid; a usage error is 2.
    let (code, _, _) = check(&lab, &lab.dir.join("absent.toml"), false);
    assert_eq!(code, 1);
    let out = lab.alias_mgr(&["check", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));

    // Nothing was changed on the host: no address, no nft table.
    assert_eq!(lab.host.json(&["ip", "-j", "-4", "addr"]), addresses_before);
    assert!(!lab
        .host
        .try_sh(&["nft", "list", "table", "inet", "alias_mgr"]));
}
