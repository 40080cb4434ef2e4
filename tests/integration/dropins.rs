//! Drop-in configs end to end: `conf.d/*.toml` next to the config, merged
//! after it, edited where each entry is declared, watched by the daemon.

use std::{
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    daemon::Daemon,
    util::{write, Lab},
};

const MAIN: &str = "# main: the zones\n[settings]\narp_probe_ms = 0\nannounce_count = 0\n\n[zone.lab]\ninput = \"accept\"\n";
const WEB: &str = "# the web role\n[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.10/24\"\nzone = \"lab\"\n";

#[test]
fn drop_ins_are_merged_edited_where_declared_and_clashes_name_both_files() {
    let lab = Lab::new();
    let conf_d = lab.dir.join("conf.d");
    std::fs::create_dir_all(&conf_d).unwrap();
    write(&lab.config_path(), MAIN);
    write(&conf_d.join("10-web.toml"), WEB);
    lab.ok(&["apply"]);
    assert!(lab.host.has_address("eth1", "192.0.2.10/24"));
    let set = lab
        .host
        .sh(&["nft", "list", "set", "inet", "alias_mgr", "z_lab_v4"]);
    assert!(set.contains("192.0.2.0/24"), "{set}");

    // list --json says which file declares it.
    let listed: Value = serde_json::from_str(&lab.ok(&["list", "eth1", "--json"])).unwrap();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "192.0.2.10")
        .unwrap();
    let web = conf_d.join("10-web.toml");
    assert_eq!(row["declared_in"], format!("{}:2", web.display()));

    let plan: Value = serde_json::from_str(&lab.ok(&["plan", "--json"])).unwrap();
    assert_eq!(
        plan["declared_in"][0]["declared_in"],
        format!("{}:2", web.display()),
        "{plan}"
    );

    // add --file records in that drop-in (new here), the main file untouched.
    let new = conf_d.join("20-db.toml");
    let out = lab.ok(&[
        "add",
        "eth1",
        "192.0.2.20/24",
        "--file",
        new.to_str().unwrap(),
    ]);
    assert!(
        out.contains(&format!("saved in {}", new.display())),
        "{out}"
    );
    assert!(std::fs::read_to_string(&new)
        .unwrap()
        .contains("192.0.2.20/24"));
    assert_eq!(std::fs::read_to_string(lab.config_path()).unwrap(), MAIN);
    let outside = lab.dir.join("elsewhere.toml");
    let err = lab.fails(&[
        "add",
        "eth1",
        "192.0.2.21/24",
        "--file",
        outside.to_str().unwrap(),
    ]);
    assert!(err.contains("--file must name a drop-in"), "{err}");
    assert!(!lab.host.has_address("eth1", "192.0.2.21/24"));

    // del edits the file that declares the entry.
    let out = lab.ok(&["del", "eth1", "192.0.2.10"]);
    assert!(
        out.contains(&format!("its entry from {}", web.display())),
        "{out}"
    );
    assert!(!std::fs::read_to_string(&web)
        .unwrap()
        .contains("192.0.2.10"));
    assert!(!lab.host.has_address("eth1", "192.0.2.10/24"));

    // A clash across files names both, and nothing changes.
    let dup = conf_d.join("30-dup.toml");
    write(
        &dup,
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.20/24\"\n",
    );
    let before = lab.host.json(&["ip", "-j", "-4", "addr", "show", "eth1"]);
    let err = lab.fails(&["apply"]);
    assert!(
        err.contains(&format!("{}:3:", dup.display()))
            && err.contains(&format!("{} line", new.display())),
        "{err}"
    );
    assert_eq!(
        lab.host.json(&["ip", "-j", "-4", "addr", "show", "eth1"]),
        before
    );
    let checked = lab.alias_mgr(&["check"]);
    assert_eq!(checked.status.code(), Some(1));
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(said.starts_with(&format!("{}:3:", dup.display())), "{said}");
    std::fs::remove_file(&dup).unwrap();

    // A candidate checked elsewhere (Ansible's temporary copy) against
    // the real drop-ins: without --drop-ins it sees none, with it the clash.
    let candidate = lab.dir.join("tmp").join("candidate.toml");
    std::fs::create_dir_all(candidate.parent().unwrap()).unwrap();
    write(
        &candidate,
        &format!("{MAIN}\n[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.20/24\"\n"),
    );
    let alone = lab.alias_mgr(&["check", "--config", candidate.to_str().unwrap()]);
    assert_eq!(alone.status.code(), Some(0));
    let with_real = lab.alias_mgr(&[
        "check",
        "--config",
        candidate.to_str().unwrap(),
        "--drop-ins",
        conf_d.to_str().unwrap(),
    ]);
    assert_eq!(with_real.status.code(), Some(1));
    let said = String::from_utf8_lossy(&with_real.stdout);
    assert!(said.contains("already declared"), "{said}");
}

#[test]
fn the_daemon_applies_a_drop_in_written_while_it_runs() {
    let lab = Lab::new();
    write(&lab.config_path(), MAIN);
    let daemon = Daemon::start(&lab, &[]);
    // conf.d made after the daemon started, then a drop-in in it.
    let conf_d = lab.dir.join("conf.d");
    std::fs::create_dir_all(&conf_d).unwrap();
    thread::sleep(Duration::from_millis(300));
    write(&conf_d.join("10-web.toml"), WEB);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lab.host.has_address("eth1", "192.0.2.10/24") {
        assert!(
            Instant::now() < deadline,
            "the drop-in was not applied within 10 s:\n{}",
            daemon.log()
        );
        thread::sleep(Duration::from_millis(100));
    }
    daemon.stop();
}
