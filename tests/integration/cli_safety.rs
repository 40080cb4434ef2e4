//! Careless input loses nothing: a mistyped --config, a reader that goes
//! away, a full disk behind stdout, a label where an interface was expected,
//! a name with a stray space.

use std::{
    fs,
    path::Path,
    process::{Command, Output, Stdio},
};

use crate::util::{write, Lab};

/// What the kernel and the pin directory hold, byte for byte, as the
/// independent observers (`ip`, `nft`, the filesystem) show it.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    addresses: String,
    table: String,
    pins: Vec<(String, Vec<u8>)>,
}

fn snapshot(lab: &Lab) -> Snapshot {
    Snapshot {
        addresses: lab.host.sh(&["ip", "-j", "addr"]),
        table: lab
            .host
            .sh(&["nft", "-j", "list", "table", "inet", "alias_mgr"]),
        pins: pin_files(&lab.pin_dir),
    }
}

/// Every file under the pin directory with what reading it gives (bpffs
/// prints a pinned map's entries; a link pin reads as an error).
fn pin_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path.clone());
            }
            let content =
                fs::read(&path).unwrap_or_else(|err| format!("<{:?}>", err.kind()).into_bytes());
            files.push((path.display().to_string(), content));
        }
    }
    files.sort();
    files
}

fn run(mut command: Command) -> Output {
    command.output().expect("alias-mgr runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A lab whose config A declares a zone and an alias in it, applied (the
/// classifier counts it on eth1).
fn lab_with_zone() -> Lab {
    let lab = Lab::new();
    lab.quiet_link(&[]);
    write(&lab.config_path(), "[zone.lab]\ninput = \"drop\"\n");
    lab.ok(&["add", "eth1", "192.168.0.1/24", "--zone", "lab"]);
    lab
}

#[test]
fn a_mistyped_config_on_add_or_del_changes_nothing_and_says_why() {
    let lab = lab_with_zone();
    let before = snapshot(&lab);
    assert!(!before.pins.is_empty(), "counters are pinned: {before:?}");
    let missing = lab.dir.join("B.toml");

    let out = run(lab.alias_mgr_with(&missing, &["add", "eth1", "192.168.5.1/24"]));
    let err = text(&out.stderr);
    assert!(!out.status.success() && !err.contains("panicked"), "{err}");
    assert!(
        err.contains("does not exist")
            && err.contains("192.168.0.1/24 on eth1,")
            && err.contains("nftables table inet alias_mgr")
            && err.contains("counters")
            && err.contains(&format!("touch {:?}", missing)),
        "{err}"
    );
    let likely = if Path::new("/etc/alias-mgr/alias-mgr.toml").exists() {
        "/etc/alias-mgr/alias-mgr.toml"
    } else {
        "the file that declared them"
    };
    assert!(err.contains(likely), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    for args in [&["del", "eth1", "192.168.0.1"][..], &["del", "eth1:0"]] {
        let out = run(lab.alias_mgr_with(&missing, args));
        let err = text(&out.stderr);
        assert!(!out.status.success() && !err.contains("panicked"), "{err}");
        assert!(
            err.contains("does not exist") && err.contains("nothing to delete"),
            "{args:?}: {err}"
        );
    }
    // `--runtime` changes no file, but plans against it all the same.
    let out = run(lab.alias_mgr_with(&missing, &["del", "eth1:0", "--runtime"]));
    assert!(!out.status.success(), "{}", text(&out.stdout));

    assert_eq!(snapshot(&lab), before, "nothing changed");
    assert!(!missing.exists(), "no file was created");

    // Starting a new file on purpose: add works, and the alias, zone table
    // and classifier of the other file stay as they were.
    write(&missing, "");
    let out = run(lab.alias_mgr_with(&missing, &["add", "eth1", "192.168.5.1/24"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(lab.host.has_address("eth1", "192.168.5.1/24"));
    assert!(lab.host.has_address("eth1", "192.168.0.1/24"));
    assert!(fs::read_to_string(&missing)
        .unwrap()
        .contains("192.168.5.1/24"));
    let after = snapshot(&lab);
    assert_eq!(after.table, before.table, "the zone table is left alone");
    assert!(
        lab.ok(&["counters", "show"]).contains("192.168.0.1 "),
        "A's alias is still counted"
    );
}

/// alias-mgr with stdout into a pipe whose read end is already closed.
fn into_closed_pipe(mut command: Command) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    command.stdout(writer).stderr(Stdio::piped());
    command.output().expect("alias-mgr runs")
}

fn into_full_disk(mut command: Command) -> Output {
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    command.stdout(full).stderr(Stdio::piped());
    command.output().expect("alias-mgr runs")
}

#[test]
fn add_and_del_finish_their_change_when_stdout_goes_away() {
    let lab = Lab::new();
    write(&lab.config_path(), "");

    let out = into_closed_pipe(lab.alias_mgr_command(&["add", "eth1", "192.168.0.1/24"]));
    let err = text(&out.stderr);
    assert!(out.status.success() && !err.contains("panicked"), "{err}");
    assert!(lab.host.has_address("eth1", "192.168.0.1/24"));
    assert!(lab.config_text().contains("192.168.0.1/24"));

    let out = into_closed_pipe(lab.alias_mgr_command(&["del", "eth1", "192.168.0.1"]));
    let err = text(&out.stderr);
    assert!(out.status.success() && !err.contains("panicked"), "{err}");
    assert!(!lab.host.has_address("eth1", "192.168.0.1/24"));
    assert!(!lab.config_text().contains("192.168.0.1"));

    // A failure keeps its status into a closed pipe.
    let out = into_closed_pipe(lab.alias_mgr_command(&["del", "eth1", "192.168.0.1"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    // A full disk behind stdout: the change is made and the lost output said.
    let out = into_full_disk(lab.alias_mgr_command(&["add", "eth1", "192.168.0.2/24"]));
    let err = text(&out.stderr);
    assert!(out.status.success() && !err.contains("panicked"), "{err}");
    assert!(err.contains("stdout"), "{err}");
    assert!(lab.host.has_address("eth1", "192.168.0.2/24"));
    assert!(lab.config_text().contains("192.168.0.2/24"));
    // A listing that cannot be written is a failed listing.
    let out = into_full_disk(lab.alias_mgr_command(&["list"]));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("stdout") && !err.contains("panicked"), "{err}");

    // A closed stderr: the error has nowhere to go, but no panic (101).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut command = lab.alias_mgr_command(&["del", "eth1", "192.168.0.9"]);
    let status = command
        .stdout(Stdio::null())
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
}

#[test]
fn list_takes_a_label_as_del_does() {
    let lab = Lab::new();
    write(&lab.config_path(), "");
    lab.ok(&["add", "eth1:0", "192.168.0.1/24"]);
    lab.ok(&["add", "eth1:web", "192.168.7.1/24"]);

    let listed = lab.ok(&["list", "eth1:0"]);
    assert!(
        listed.contains("192.168.0.1/24") && !listed.contains("192.168.7.1"),
        "{listed}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&lab.ok(&["list", "eth1:web", "--json"])).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{json}");
    assert_eq!(rows[0]["address"], "192.168.7.1");
    assert_eq!(rows[0]["label"], "eth1:web");

    let err = lab.fails(&["list", "eth1:9"]);
    assert!(
        err.contains("no address labelled \"eth1:9\" on \"eth1\""),
        "{err}"
    );
    let err = lab.fails(&["list", "eth9:0"]);
    assert!(err.contains("interface \"eth9\" does not exist"), "{err}");
}

#[test]
fn a_stray_space_in_a_name_is_visible_in_the_message() {
    let lab = Lab::new();
    write(&lab.config_path(), "");
    for args in [
        &["add", "eth1 ", "192.168.0.1/24"][..],
        &["list", "eth1 "],
        &["counters", "attach", "eth1 "],
    ] {
        let err = lab.fails(args);
        assert!(
            err.contains("interface \"eth1 \" does not exist"),
            "{args:?}: {err}"
        );
    }
    let err = lab.fails(&["del", "eth1 ", "192.168.0.1"]);
    assert!(err.contains("\"eth1 \""), "{err}");
    assert_eq!(lab.config_text(), "");
}
