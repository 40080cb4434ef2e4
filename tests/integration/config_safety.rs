//! Careless config files: one another user could change, a FIFO where the
//! file should be, an import that contradicts the file. Each is refused
//! with the fix, the run changes nothing, and nothing the user had is lost.

use std::{
    os::unix::fs::{MetadataExt, PermissionsExt},
    process::Stdio,
    time::{Duration, Instant},
};

use crate::util::*;

const ALIAS: &str =
    "[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.0.1/24\"\nlabel = \"eth1:0\"\n";

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().mode() & 0o7777
}

fn chmod(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_config_other_users_can_write_is_refused_and_nothing_changes() {
    let lab = Lab::new();
    let path = lab.config_path();
    write(&path, ALIAS);
    chmod(&path, 0o664);
    for command in [
        &["apply"][..],
        &["plan"],
        &["add", "eth1", "192.168.0.2/24"],
    ] {
        let err = lab.fails(command);
        assert!(
            err.contains(&format!(
                "refusing {}: it is writable by group (mode 0664)",
                path.display()
            )),
            "{command:?}: {err}"
        );
        assert!(
            err.trim_end()
                .ends_with(&format!("run `chmod go-w {}`", path.display())),
            "{command:?}: {err}"
        );
    }
    // The directory counts too (others could replace the file in it).
    chmod(&path, 0o644);
    chmod(&lab.dir, 0o777);
    let err = lab.fails(&["apply"]);
    assert!(
        err.contains(&format!("run `chmod go-w {}`", lab.dir.display())),
        "{err}"
    );
    chmod(&lab.dir, 0o755);
    // Nothing changed: the kernel (as `ip` sees it) and the file.
    assert_eq!(lab.host.addresses("eth1"), vec![]);
    assert_eq!(lab.config_text(), ALIAS);
    assert_eq!(mode(&path), 0o644);

    // With the fix applied, the same file applies.
    lab.ok(&["apply"]);
    assert_eq!(
        lab.host.addresses("eth1"),
        vec![("192.168.0.1/24".to_string(), Some("eth1:0".to_string()))]
    );
    // ... and `add` keeps its (strict) mode.
    chmod(&path, 0o600);
    lab.ok(&["add", "eth1", "192.168.0.2/24"]);
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn a_fifo_as_config_is_refused_at_once() {
    let lab = Lab::new();
    let path = lab.config_path();
    testkit::sh(&["mkfifo", path.to_str().unwrap()]).unwrap_or_else(|f| panic!("{f}"));
    let mut child = lab
        .alias_mgr_command(&["plan"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("plan blocked on a FIFO config");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!(
            "{} is a FIFO (named pipe), not a regular file",
            path.display()
        )),
        "{err}"
    );
}

#[test]
fn an_import_that_clashes_with_the_file_writes_nothing() {
    let lab = Lab::new();
    write(&lab.config_path(), &format!("# mine\n{ALIAS}"));
    let interfaces = lab.dir.join("interfaces");
    // 192.168.0.1 again with another prefix, and one new alias.
    write(
        &interfaces,
        "iface eth1:0 inet static\naddress 192.168.0.1/16\n\n\
         iface eth1:5 inet static\naddress 10.5.0.1/24\n",
    );
    let err = lab.fails(&[
        "import",
        "ifupdown",
        interfaces.to_str().unwrap(),
        "--write",
    ]);
    assert!(
        err.contains("nothing was imported: imported 192.168.0.1/16 on eth1 (label \"eth1:0\") clashes with line 2 (192.168.0.1/24 on eth1 (label \"eth1:0\")): same address, another prefix length"),
        "{err}"
    );
    assert_eq!(lab.config_text(), format!("# mine\n{ALIAS}"));

    // An exact duplicate is no clash: only the new alias is merged.
    write(
        &interfaces,
        "iface eth1:0 inet static\naddress 192.168.0.1/24\n\n\
         iface eth1:5 inet static\naddress 10.5.0.1/24\n",
    );
    let out = lab.ok(&[
        "import",
        "ifupdown",
        interfaces.to_str().unwrap(),
        "--write",
    ]);
    assert!(
        out.contains("merged 1 alias(es)") && out.contains("(1 already there)"),
        "{out}"
    );
    let text = lab.config_text();
    assert!(text.starts_with(&format!("# mine\n{ALIAS}")), "{text}");
    assert!(text.contains("address = \"10.5.0.1/24\""), "{text}");
}
