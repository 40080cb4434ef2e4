//! The alias lifecycle on the seeds' stories, observed with `ip -j`.

use crate::util::{write, Lab};

fn sysctl(lab: &Lab, key: &str) -> String {
    lab.host.sh(&["sysctl", "-n", key]).trim().to_string()
}

#[test]
fn linux_seed_device_on_another_subnet_is_reachable_after_the_alias() {
    let lab = Lab::new();
    lab.host
        .sh(&["ip", "addr", "add", "192.168.1.1/24", "dev", "eth1"]);
    lab.peer
        .sh(&["ip", "addr", "add", "192.168.0.50/24", "dev", "eth0"]);
    assert!(
        !lab.host
            .try_sh(&["ping", "-c", "1", "-W", "1", "192.168.0.50"]),
        "reachable before the alias"
    );

    let out = lab.ok(&["add", "eth1", "192.168.0.1"]);
    assert!(
        out.contains("/24"),
        "the classifull default is printed: {out}"
    );
    assert!(lab
        .host
        .addresses("eth1")
        .contains(&("192.168.0.1/24".into(), Some("eth1:0".into()))));
    let connected = lab.host.routes("-4");
    assert!(
        connected.iter().any(|r| r["dst"] == "192.168.0.0/24"
            && r["dev"] == "eth1"
            && r["protocol"] == "kernel"),
        "{connected:?}"
    );
    lab.host
        .sh(&["ping", "-c", "2", "-i", "0.2", "192.168.0.50"]);
    // Same MAC as the card: the alias is just another address on eth1.
    let listed: serde_json::Value =
        serde_json::from_str(&lab.ok(&["list", "eth1", "--json"])).unwrap();
    let rows = listed.as_array().unwrap();
    let alias = rows.iter().find(|r| r["address"] == "192.168.0.1").unwrap();
    let primary = rows.iter().find(|r| r["address"] == "192.168.1.1").unwrap();
    assert_eq!(alias["mac"], primary["mac"]);
    assert_eq!(alias["label"], "eth1:0");
    assert_eq!(alias["owned"], true);
    assert_eq!(primary["owned"], false);
    assert!(primary["rx_packets"].is_null());
    assert!(alias["rx_packets"].as_u64().unwrap() >= 2, "{alias}");
    assert!(alias["tx_packets"].as_u64().unwrap() >= 2, "{alias}");

    let config = lab.config_text();
    assert!(
        config.contains("192.168.0.1/24") && config.contains("eth1:0"),
        "{config}"
    );
}

#[test]
fn mac_case_1_case_2_and_removal_keep_other_addresses_and_routes() {
    let lab = Lab::new();
    lab.host
        .sh(&["sysctl", "-qw", "net.ipv4.conf.eth1.promote_secondaries=0"]);
    lab.host
        .sh(&["ip", "addr", "add", "192.168.32.25/24", "dev", "eth1"]);

    // Case 1: a new subnet gets its own connected route; alias-mgr turns
    // promote_secondaries on where it manages IPv4 aliases, and says so.
    let out = lab.ok(&["add", "eth1", "192.168.64.25/24"]);
    assert!(out.contains("promote_secondaries = 1"), "{out}");
    assert!(lab.host.has_route("-4", "192.168.64.0/24"));

    // Case 2: same subnet, no prefix given: the subnet's /24, as a secondary.
    let out = lab.ok(&["add", "eth1", "192.168.32.27"]);
    assert!(out.contains("secondary"), "{out}");
    assert!(lab.host.has_address("eth1", "192.168.32.27/24"));
    assert_eq!(sysctl(&lab, "net.ipv4.conf.eth1.promote_secondaries"), "1");

    // Removing the alias keeps the primary and the subnet's route.
    lab.ok(&["del", "eth1", "192.168.32.27"]);
    assert!(!lab.host.has_address("eth1", "192.168.32.27/24"));
    assert!(lab.host.has_address("eth1", "192.168.32.25/24"));
    assert!(lab.host.has_route("-4", "192.168.32.0/24"));
    assert!(lab.host.has_address("eth1", "192.168.64.25/24"));

    // Someone removes the (foreign) primary: the alias is promoted, not lost.
    lab.ok(&["add", "eth1", "192.168.32.27"]);
    lab.host
        .sh(&["ip", "addr", "del", "192.168.32.25/24", "dev", "eth1"]);
    assert!(lab.host.has_address("eth1", "192.168.32.27/24"));
    assert!(lab.host.has_route("-4", "192.168.32.0/24"));
    assert!(lab.ok(&["plan"]).contains("nothing to do"));
}

#[test]
fn extra_routes_come_and_go_with_their_alias() {
    let lab = Lab::new();
    lab.host
        .sh(&["ip", "addr", "add", "192.168.1.1/24", "dev", "eth1"]);
    lab.ok(&[
        "add",
        "eth1",
        "192.168.0.1/24",
        "--route",
        "198.51.100.0/24@192.168.0.254",
        "--route",
        "203.0.113.0/24",
    ]);
    let routes = lab.host.routes("-4");
    let via = routes
        .iter()
        .find(|r| r["dst"] == "198.51.100.0/24")
        .expect("route added");
    assert_eq!(via["gateway"], "192.168.0.254");
    assert_eq!(via["prefsrc"], "192.168.0.1");
    let direct = routes
        .iter()
        .find(|r| r["dst"] == "203.0.113.0/24")
        .expect("route added");
    assert_eq!(direct["scope"], "link");
    assert!(lab.config_text().contains("198.51.100.0/24@192.168.0.254"));

    lab.ok(&["del", "eth1", "192.168.0.1"]);
    assert!(!lab.host.has_route("-4", "198.51.100.0/24"));
    assert!(!lab.host.has_route("-4", "203.0.113.0/24"));
    assert!(lab.host.has_route("-4", "192.168.1.0/24"));
    assert!(!lab.config_text().contains("192.168.0.1"));
}

#[test]
fn aliases_survive_a_reboot_through_the_config_file() {
    let lab = Lab::new();
    lab.host
        .sh(&["ip", "addr", "add", "192.168.1.1/24", "dev", "eth1"]);
    lab.ok(&[
        "add",
        "eth1",
        "192.168.0.1/24",
        "--route",
        "198.51.100.0/24@192.168.0.254",
    ]);
    // An IPv6 route's source must have passed duplicate address detection.
    lab.ok(&[
        "add",
        "eth1",
        "2001:db8:5::1/64",
        "--label",
        "eth1:v6",
        "--route",
        "2001:db8:99::/48@2001:db8:5::fe",
    ]);
    assert!(lab.host.has_route("-6", "2001:db8:99::/48"));
    let before = lab.host.addresses("eth1");

    // "Reboot": every address, route and counter attachment is gone.
    lab.host.sh(&["ip", "link", "del", "eth1"]);
    lab.host.sh(&[
        "ip",
        "link",
        "add",
        "eth1",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        &lab.peer.name,
    ]);
    lab.host.sh(&["ip", "link", "set", "eth1", "up"]);
    lab.peer.sh(&["ip", "link", "set", "eth0", "up"]);
    lab.host
        .sh(&["ip", "addr", "add", "192.168.1.1/24", "dev", "eth1"]);

    let plan = lab.ok(&["plan"]);
    assert!(
        plan.contains("+ address 192.168.0.1/24 dev eth1 label eth1:0"),
        "{plan}"
    );
    assert!(plan.contains("+ classifier on eth1"), "{plan}");
    lab.ok(&["apply"]);
    let after = lab.host.addresses("eth1");
    for address in &before {
        assert!(
            after.contains(address),
            "{address:?} missing after apply: {after:?}"
        );
    }
    assert!(lab.host.has_route("-4", "198.51.100.0/24"));
    assert!(lab.host.has_route("-6", "2001:db8:99::/48"));
    assert!(lab.ok(&["apply"]).contains("nothing to do"));
    // The IPv6 label lives in the config only.
    let listed = lab.ok(&["list", "eth1"]);
    assert!(listed.contains("eth1:v6"), "{listed}");
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let lab = Lab::new();
    lab.host
        .sh(&["ip", "addr", "add", "192.168.1.1/24", "dev", "eth1"]);
    lab.ok(&["add", "eth1", "192.168.0.1/24"]);
    let config = lab.config_text();
    let addresses = lab.host.addresses("eth1");

    for (args, expected) in [
        (&["add", "eth1", "192.168.0.300"][..], "not an IP address"),
        (&["add", "eth1", "192.168.7.1/33"], "/33"),
        (
            &[
                "add",
                "eth1",
                "192.168.7.1/24",
                "--label",
                "eth1:0123456789ab",
            ],
            "15",
        ),
        (
            &["add", "eth9", "192.168.7.1/24"],
            "\"eth9\" does not exist",
        ),
        (
            &["add", "eth1", "192.168.1.1/24"],
            "not managed by alias-mgr",
        ),
        (&["add", "eth1", "192.168.0.1/24"], "already on eth1"),
        (
            &["add", "eth1", "192.168.7.1/24", "--label", "eth1:0"],
            "label eth1:0 is already used",
        ),
        (
            &["add", "eth1", "192.168.7.1/24", "--zone", "nosuchzone"],
            "nosuchzone",
        ),
        (
            &[
                "add",
                "eth1",
                "192.168.7.1/24",
                "--route",
                "10.0.0.0/8@2001:db8::1",
            ],
            "route",
        ),
        (
            &["del", "eth1", "192.168.1.1"],
            "was not added by alias-mgr",
        ),
        (&["del", "eth1", "192.168.9.9"], "neither on \"eth1\""),
    ] {
        let err = lab.fails(args);
        assert!(
            err.contains(expected),
            "{args:?}: expected {expected:?} in {err}"
        );
        assert_eq!(lab.config_text(), config, "{args:?} changed the config");
        assert_eq!(
            lab.host.addresses("eth1"),
            addresses,
            "{args:?} changed the addresses"
        );
    }

    // A config syntax error names file, line and column; nothing changes.
    write(
        &lab.config_path(),
        &format!("{config}\n[[alias]]\ninterface = \"eth1\"\naddress = 192.168.2.1/24\n"),
    );
    let err = lab.fails(&["apply"]);
    let line = config.lines().count() + 4;
    assert!(
        err.contains(&format!("alias-mgr.toml:{line}:")),
        "file and line expected: {err}"
    );
    assert_eq!(lab.host.addresses("eth1"), addresses);
}

#[test]
fn a_failed_step_rolls_back_the_whole_run() {
    let lab = Lab::new();
    lab.host
        .sh(&["ip", "addr", "add", "192.168.1.1/24", "dev", "eth1"]);
    // The gateway is on no subnet of eth1: the kernel refuses the route after
    // the address went in; the address must be taken out again.
    write(
        &lab.config_path(),
        "# hand-written\n[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.0.1/24\"\nroutes = [\"198.51.100.0/24@10.99.0.1\"]\n",
    );
    let err = lab.fails(&["apply"]);
    assert!(
        err.contains("198.51.100.0/24") && err.contains("rolled back"),
        "{err}"
    );
    assert!(!lab.host.has_address("eth1", "192.168.0.1/24"));
    assert!(lab.ok(&["counters", "show", "--json"]).trim() == "[]");
}

#[test]
fn foreign_addresses_are_never_touched_and_owned_strays_are_removed() {
    let lab = Lab::new();
    lab.host
        .sh(&["ip", "addr", "add", "192.168.1.1/24", "dev", "eth1"]);
    lab.host.sh(&[
        "ip",
        "addr",
        "add",
        "192.0.2.99/24",
        "dev",
        "eth1",
        "label",
        "eth1:foo",
    ]);
    write(&lab.config_path(), "# managed by alias-mgr\n");
    lab.ok(&["add", "eth1", "192.168.0.1/24", "--runtime"]);
    assert_eq!(
        lab.config_text(),
        "# managed by alias-mgr\n",
        "--runtime leaves the config alone"
    );
    let plan = lab.ok(&["plan"]);
    assert!(plan.contains("- address 192.168.0.1/24"), "{plan}");
    assert!(
        !plan.contains("192.0.2.99") && !plan.contains("192.168.1.1"),
        "{plan}"
    );
    lab.ok(&["apply"]);
    assert!(!lab.host.has_address("eth1", "192.168.0.1/24"));
    assert!(lab.host.has_address("eth1", "192.0.2.99/24"));
    assert!(lab.host.has_address("eth1", "192.168.1.1/24"));
}

#[test]
fn concurrent_adds_are_serialized_and_all_recorded() {
    let lab = Lab::new();
    lab.host
        .sh(&["ip", "addr", "add", "192.168.1.1/24", "dev", "eth1"]);
    std::thread::scope(|scope| {
        for n in 10..16 {
            let lab = &lab;
            scope.spawn(move || lab.ok(&["add", "eth1", &format!("192.168.{n}.1/24")]));
        }
    });
    let config = lab.config_text();
    for n in 10..16 {
        assert!(config.contains(&format!("192.168.{n}.1/24")), "{config}");
        assert!(lab.host.has_address("eth1", &format!("192.168.{n}.1/24")));
    }
    assert!(lab.ok(&["plan"]).contains("nothing to do"));
}

#[test]
fn imported_ifupdown_and_iftab_aliases_apply_like_the_seeds_describe() {
    let lab = Lab::new();
    lab.host
        .sh(&["ip", "addr", "add", "192.168.1.1/24", "dev", "eth1"]);
    let interfaces = lab.dir.join("interfaces");
    write(
        &interfaces,
        "iface eth1 inet static\naddress 192.168.1.1\nnetmask 255.255.255.0\nauto eth1\n\n\
         iface eth1:0 inet static\naddress 192.168.0.1\nnetmask 255.255.255.0\nauto eth1:0\n",
    );
    // Printing changes nothing; --write merges into the config.
    let printed = lab.ok(&["import", "ifupdown", interfaces.to_str().unwrap()]);
    assert!(
        printed.contains("192.168.0.1/24") && printed.contains("eth1:0"),
        "{printed}"
    );
    assert_eq!(lab.config_text(), "");
    lab.ok(&[
        "import",
        "ifupdown",
        interfaces.to_str().unwrap(),
        "--write",
    ]);
    let iftab = lab.dir.join("iftab");
    write(
        &iftab,
        "eth1 inet 192.168.1.27 netmask 255.255.255.255 alias\n",
    );
    let out = lab.alias_mgr(&["import", "iftab", iftab.to_str().unwrap(), "--write"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.ok(&["apply"]);
    let addresses = lab.host.addresses("eth1");
    assert!(
        addresses.contains(&("192.168.0.1/24".into(), Some("eth1:0".into()))),
        "{addresses:?}"
    );
    assert!(
        lab.host.has_address("eth1", "192.168.1.27/32")
            || lab.host.has_address("eth1", "192.168.1.27/24")
    );
    assert!(
        lab.host.has_address("eth1", "192.168.1.1/24"),
        "the primary is not imported or touched"
    );
    // Importing again adds nothing.
    let again = lab.ok(&[
        "import",
        "ifupdown",
        interfaces.to_str().unwrap(),
        "--write",
    ]);
    assert!(again.contains("merged 0"), "{again}");
}

#[test]
fn ifconfig_style_label_and_netmask_forms_add_and_remove_an_alias() {
    // `ifconfig eth1:0 192.168.0.1 netmask 255.255.255.0`, said the
    // alias-mgr way; then removed by its label alone.
    let lab = Lab::new();
    lab.ok(&["add", "eth1:0", "192.168.0.1/255.255.255.0"]);
    lab.ok(&["add", "eth1:web", "192.168.7.1/255.255.254.0"]);
    let addresses = lab.host.addresses("eth1");
    assert!(
        addresses.contains(&("192.168.0.1/24".into(), Some("eth1:0".into())))
            && addresses.contains(&("192.168.7.1/23".into(), Some("eth1:web".into()))),
        "{addresses:?}"
    );
    assert!(lab.config_text().contains("label = \"eth1:web\""));

    let err = lab.fails(&["add", "eth1:1", "192.168.9.1/255.0.255.0"]);
    assert!(err.contains("not contiguous"), "{err}");
    let err = lab.fails(&["add", "eth1:1", "192.168.9.1", "--label", "eth1:2"]);
    assert!(err.contains("--label"), "{err}");
    let err = lab.fails(&["del", "eth1"]);
    assert!(err.contains("which address"), "{err}");
    let err = lab.fails(&["del", "eth1:9"]);
    assert!(err.contains("no alias labelled \"eth1:9\""), "{err}");
    // A label and an address that do not agree: nothing is removed.
    let err = lab.fails(&["del", "eth1:web", "192.168.0.1"]);
    assert!(err.contains("\"eth1:web\" is 192.168.7.1"), "{err}");
    let err = lab.fails(&["del", "eth1:5", "192.168.0.1"]);
    assert!(err.contains("no alias labelled \"eth1:5\""), "{err}");
    assert!(lab.host.has_address("eth1", "192.168.0.1/24"));
    // The seed's own words: `ifconfig eth1:1 192.168.2.1 netmask 255.255.255.0 up`.
    lab.ok(&[
        "add",
        "eth1:1",
        "192.168.2.1",
        "netmask",
        "255.255.255.0",
        "up",
    ]);
    assert!(lab
        .host
        .addresses("eth1")
        .contains(&("192.168.2.1/24".into(), Some("eth1:1".into()))));
    let err = lab.fails(&["add", "eth1:2", "192.168.3.1", "broadcast", "192.168.3.255"]);
    assert!(err.contains("192.168.3.1/255.255.255.0"), "{err}");

    lab.ok(&["del", "eth1:0"]);
    let addresses = lab.host.addresses("eth1");
    assert!(
        !addresses.iter().any(|(a, _)| a == "192.168.0.1/24")
            && addresses.iter().any(|(a, _)| a == "192.168.7.1/23"),
        "{addresses:?}"
    );
    assert!(!lab.config_text().contains("192.168.0.1"));
    assert!(lab.config_text().contains("192.168.7.1/23"));
}

/// Owned (alias-mgr's) global addresses on eth1, as `ip -j addr` shows them.
fn owned_count(lab: &Lab) -> usize {
    let json = lab.host.json(&["ip", "-j", "addr", "show", "dev", "eth1"]);
    json[0]["addr_info"].as_array().map_or(0, |infos| {
        infos
            .iter()
            .filter(|i| i["local"].as_str().is_some_and(|a| a.starts_with("10.20.")))
            .count()
    })
}

/// Starts `alias-mgr apply`, SIGKILLs it once eth1 holds `at` (or, going
/// down, at most `at`) of the test's addresses, and checks it died mid-way.
fn kill_apply_midway(lab: &Lab, reached: impl Fn(usize) -> bool) {
    let mut child = lab
        .alias_mgr_command(&["apply"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !reached(owned_count(lab)) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "apply finished before the kill point"
        );
        assert!(std::time::Instant::now() < deadline, "apply stalled");
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not finished: {status}");
}

#[test]
fn apply_killed_at_any_moment_converges_on_the_next_run() {
    // Every command is a stateless reconcile: SIGKILL mid-way leaves a
    // half-done kernel, and the next run finishes the job (no stale lock,
    // no half-written file, nothing done twice).
    const COUNT: usize = 3000;
    let lab = Lab::new();
    let mut config = String::from(
        "[zone.lab]\nsubnets = [\"10.99.0.0/16\"]\ninput = \"drop\"\nallow = [\"icmp\"]\n\n",
    );
    for n in 0..COUNT {
        config.push_str(&format!(
            "[[alias]]\ninterface = \"eth1\"\naddress = \"10.20.{}.{}/32\"\n\n",
            n / 250,
            n % 250 + 1
        ));
    }
    write(&lab.config_path(), &config);

    for at in [1, COUNT / 2] {
        kill_apply_midway(&lab, |n| n >= at);
        assert!(owned_count(&lab) < COUNT, "killed before the end");
        lab.ok(&["apply"]);
        assert_eq!(owned_count(&lab), COUNT);
        let plan = lab.ok(&["plan"]);
        assert!(plan.contains("nothing to do"), "{plan}");
        // Back to nothing, to be killed again from the start.
        if at == 1 {
            write(&lab.config_path(), "");
            lab.ok(&["apply"]);
            assert_eq!(owned_count(&lab), 0);
            write(&lab.config_path(), &config);
        }
    }
    let nft = lab
        .host
        .json(&["nft", "-j", "list", "table", "inet", "alias_mgr"]);
    assert!(nft.to_string().contains("10.99.0.0"), "{nft}");
    assert_eq!(lab.counters("10.20.0.1").0, 0, "tracked");

    // Killed while removing: the next run removes the rest.
    write(&lab.config_path(), "");
    kill_apply_midway(&lab, |n| n <= COUNT / 2);
    assert!(owned_count(&lab) > 0, "killed before the end");
    lab.ok(&["apply"]);
    assert_eq!(owned_count(&lab), 0);
    assert!(!lab
        .host
        .try_sh(&["nft", "list", "table", "inet", "alias_mgr"]));
    assert_eq!(lab.ok(&["counters", "show", "--json"]).trim(), "[]");
}

#[test]
fn a_missing_config_is_an_error_never_an_empty_one() {
    let lab = Lab::new();
    lab.ok(&[
        "add",
        "eth1",
        "192.168.0.1/24",
        "--route",
        "10.9.0.0/16@192.168.0.254",
    ]);
    let moved = lab.dir.join("moved.toml");
    std::fs::rename(lab.config_path(), &moved).unwrap();
    for command in [&["apply"][..], &["plan"], &["apply", "--dry-run"]] {
        let err = lab.fails(command);
        assert!(
            err.contains("does not exist") && err.contains("--config"),
            "{command:?}: {err}"
        );
    }
    assert!(lab.host.has_address("eth1", "192.168.0.1/24"));
    assert!(lab.host.has_route("-4", "10.9.0.0/16"));
    assert!(!lab.config_path().exists(), "nothing created");
    std::fs::rename(&moved, lab.config_path()).unwrap();
    assert!(lab.ok(&["plan"]).contains("nothing to do"));
}

#[test]
fn plan_fails_when_apply_would_refuse_and_list_into_a_closed_pipe_is_quiet() {
    let lab = Lab::new();
    lab.host
        .sh(&["ip", "addr", "add", "10.80.0.1/24", "dev", "eth1"]);
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"10.80.0.1/24\"\n",
    );
    let out = lab.alias_mgr(&["plan"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("conflict:"), "{stdout}");
    assert!(stderr.contains("apply would refuse"), "{stderr}");

    // `alias-mgr list | head -c 1`: the reader goes away early, with more
    // output pending than a pipe holds (1,500 lines).
    let batch = lab.dir.join("addresses.batch");
    let lines: String = (0..1500)
        .map(|n| format!("addr add 10.81.{}.{}/32 dev eth1\n", n / 250, n % 250 + 1))
        .collect();
    std::fs::write(&batch, lines).unwrap();
    lab.host.sh(&["ip", "-batch", batch.to_str().unwrap()]);
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "nsenter --net=/run/netns/{} {} --config {} --pin-dir {} list | head -c 1 >/dev/null",
            lab.host.name,
            env!("CARGO_BIN_EXE_alias-mgr"),
            lab.config_path().display(),
            lab.pin_dir.display()
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("error") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn addresses_labels_and_routes_no_alias_can_have_are_refused_up_front() {
    let lab = Lab::new();
    write(&lab.config_path(), "");
    let before = lab.host.addresses("eth1");
    for (args, needle) in [
        (
            &["add", "eth1", "::ffff:10.1.1.1/128"][..],
            "add the IPv4 address 10.1.1.1",
        ),
        (&["add", "eth1", "255.255.255.255/32"], "limited broadcast"),
        (&["add", "eth1", "10.8.0.1/0"], "/0"),
        (&["add", "eth1", "224.0.0.5"], "multicast"),
        (
            &["add", "eth1", "10.61.0.1/24", "--label", "eth2:0"],
            "use eth1:0",
        ),
        (
            &["add", "eth1", "10.61.0.1/24", "--label", "web"],
            "use eth1:web",
        ),
        (
            &[
                "add",
                "eth1",
                "10.64.0.1/24",
                "--route",
                "10.65.0.0/16@10.64.0.1",
            ],
            "the alias itself",
        ),
        (
            &["add", "eth1", "10.66.0.1/24", "--zone", "lab"],
            "no [zone.lab]",
        ),
    ] {
        let err = lab.fails(args);
        assert!(err.contains(needle), "{args:?}: {err}");
        // No file:line:col pointing into text that is not on disk.
        let located = err
            .split("alias-mgr.toml:")
            .skip(1)
            .any(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
        assert!(!located, "{args:?}: {err}");
    }
    assert_eq!(lab.host.addresses("eth1"), before, "nothing changed");
    assert_eq!(lab.config_text(), "");

    // In the file, the same rules, with the place to fix.
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"10.64.0.1/24\"\nroutes = [\"10.65.0.0/16@10.64.0.1\"]\n",
    );
    let err = lab.fails(&["apply"]);
    assert!(
        err.contains("alias-mgr.toml:4:") && err.contains("the alias itself"),
        "{err}"
    );
    assert_eq!(lab.host.addresses("eth1"), before);
}

#[test]
fn a_down_or_unplugged_link_holds_back_only_its_routes() {
    let lab = Lab::new();
    lab.peer
        .sh(&["ip", "addr", "add", "192.168.0.254/24", "dev", "eth0"]);
    lab.peer.add_address("eth0", "2001:db8::fe/64");
    write(&lab.config_path(), "");

    // Admin-down: the address goes in, the route waits (no on-link gateway).
    lab.host.sh(&["ip", "link", "set", "eth1", "down"]);
    let out = lab.ok(&[
        "add",
        "eth1",
        "192.168.0.1/24",
        "--route",
        "10.9.0.0/16@192.168.0.254",
    ]);
    assert!(out.contains("eth1 is down"), "{out}");
    assert!(lab.host.has_address("eth1", "192.168.0.1/24"));
    assert!(!lab.host.has_route("-4", "10.9.0.0/16"));
    let plan = lab.ok(&["plan"]);
    assert!(plan.contains("pending: route 10.9.0.0/16"), "{plan}");
    lab.host.sh(&["ip", "link", "set", "eth1", "up"]);
    lab.ok(&["apply"]);
    assert!(lab.host.has_route("-4", "10.9.0.0/16"));

    // Up without carrier (the peer's end is down): IPv6 DAD cannot finish,
    // so the IPv6 route waits, while IPv4 routes work.
    lab.peer.sh(&["ip", "link", "set", "eth0", "down"]);
    let out = lab.ok(&[
        "add",
        "eth1",
        "2001:db8::1/64",
        "--route",
        "2001:db8:9::/48@2001:db8::fe",
    ]);
    assert!(out.contains("no carrier"), "{out}");
    assert!(lab.host.has_address("eth1", "2001:db8::1/64"));
    assert!(!lab.host.has_route("-6", "2001:db8:9::/48"));
    assert!(lab.host.has_route("-4", "10.9.0.0/16"), "IPv4 untouched");
    lab.peer.sh(&["ip", "link", "set", "eth0", "up"]);
    lab.ok(&["apply"]);
    assert!(lab.host.has_route("-6", "2001:db8:9::/48"));
    assert!(lab.ok(&["plan"]).contains("nothing to do"));
}

#[test]
fn an_ipv6_alias_another_host_has_is_refused_and_rolled_back() {
    let lab = Lab::new();
    lab.peer.add_address("eth0", "2001:db8::2/64");
    lab.host.settle("eth1");
    write(&lab.config_path(), "");
    let err = lab.fails(&["add", "eth1", "2001:db8::2/64"]);
    assert!(
        err.contains("duplicate address detection") && err.contains("rolled back"),
        "{err}"
    );
    assert!(!lab.host.has_address("eth1", "2001:db8::2/64"));
    assert_eq!(lab.config_text(), "");
    // A free one goes in once its detection is over.
    lab.ok(&["add", "eth1", "2001:db8::3/64"]);
    let json = lab
        .host
        .json(&["ip", "-j", "-6", "addr", "show", "dev", "eth1"]);
    let info = json[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["local"] == "2001:db8::3")
        .cloned()
        .unwrap();
    assert!(info.get("tentative").is_none(), "{info}");
}

#[test]
fn aliases_of_a_renamed_interface_are_pointed_out_and_kept() {
    let lab = Lab::new();
    lab.ok(&["add", "eth1", "192.168.0.1/24"]);
    lab.host.sh(&["ip", "link", "set", "eth1", "down"]);
    lab.host.sh(&["ip", "link", "set", "eth1", "name", "lan0"]);
    lab.host.sh(&["ip", "link", "set", "lan0", "up"]);
    let plan = lab.ok(&["plan"]);
    assert!(
        plan.contains("renamed") && plan.contains("to \"lan0\""),
        "{plan}"
    );
    lab.ok(&["apply"]);
    assert!(lab.host.has_address("lan0", "192.168.0.1/24"), "left alone");
    let list = lab.ok(&["list", "lan0"]);
    assert!(list.contains("not in the config"), "{list}");
    assert!(!list.contains("runtime"), "{list}");
}

#[test]
fn a_runtime_alias_can_be_kept_and_a_runtime_removal_keeps_the_count() {
    let lab = Lab::new();
    lab.peer
        .sh(&["ip", "addr", "add", "192.168.0.2/24", "dev", "eth0"]);
    write(&lab.config_path(), "");
    lab.ok(&["add", "eth1", "192.168.0.1/24", "--runtime"]);
    lab.peer
        .sh(&["ping", "-c", "3", "-i", "0.01", "192.168.0.1"]);
    let counted = lab.counters("192.168.0.1");
    assert!(counted.0 >= 3, "{counted:?}");

    // Made permanent: recorded as it is, not taken down and re-added.
    let out = lab.ok(&["add", "eth1", "192.168.0.1"]);
    assert!(out.contains("no longer --runtime"), "{out}");
    assert!(!out.contains("+ address"), "{out}");
    assert!(lab.config_text().contains("192.168.0.1/24"));
    assert!(lab.ok(&["list", "eth1"]).contains("[alias-mgr]"));
    assert!(lab.ok(&["plan"]).contains("nothing to do"));
    assert!(lab.counters("192.168.0.1").0 >= counted.0, "count kept");
    let listed: serde_json::Value =
        serde_json::from_str(&lab.ok(&["list", "eth1", "--json"])).unwrap();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "192.168.0.1")
        .cloned()
        .unwrap();
    assert_eq!(row["runtime"], false, "the kernel's mark follows: {row}");
    // IPv6 too.
    lab.ok(&["add", "eth1", "2001:db8::5/64", "--runtime"]);
    lab.ok(&["add", "eth1", "2001:db8::5/64"]);
    let listed: serde_json::Value =
        serde_json::from_str(&lab.ok(&["list", "eth1", "--json"])).unwrap();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "2001:db8::5")
        .cloned()
        .unwrap();
    assert_eq!(row["runtime"], false, "IPv6: {row}");

    // Out for now: the count stays for when the next apply brings it back.
    let out = lab.ok(&["del", "eth1", "192.168.0.1", "--runtime"]);
    assert!(!out.contains("- counters"), "{out}");
    assert!(!lab.host.has_address("eth1", "192.168.0.1/24"));
    let kept = lab.counters("192.168.0.1");
    lab.ok(&["apply"]);
    assert!(lab.host.has_address("eth1", "192.168.0.1/24"));
    assert_eq!(lab.counters("192.168.0.1"), kept);
}

#[test]
fn list_json_agrees_with_ip_addr_for_every_address() {
    let lab = Lab::new();
    lab.host
        .sh(&["ip", "addr", "add", "192.168.1.1/24", "dev", "eth1"]);
    lab.ok(&["add", "eth1", "192.168.0.1/24"]);
    lab.ok(&["add", "eth1", "192.168.1.7/24", "--runtime"]);
    lab.ok(&["add", "lo", "198.51.100.7/32"]);
    let listed: serde_json::Value = serde_json::from_str(&lab.ok(&["list", "--json"])).unwrap();
    let rows = listed.as_array().unwrap();
    let kernel = lab.host.json(&["ip", "-j", "addr"]);
    let mut seen = 0;
    for link in kernel.as_array().unwrap() {
        for info in link["addr_info"].as_array().unwrap() {
            let row = rows
                .iter()
                .find(|r| r["address"] == info["local"] && r["interface"] == link["ifname"])
                .unwrap_or_else(|| panic!("{info} missing from {listed}"));
            assert_eq!(row["ifindex"], link["ifindex"], "{row}");
            assert_eq!(row["family"], info["family"], "{row}");
            assert_eq!(row["prefix_len"], info["prefixlen"], "{row}");
            if info["family"] == "inet" {
                assert_eq!(row["label"], info["label"], "{row}");
            }
            seen += 1;
        }
    }
    assert_eq!(seen, rows.len(), "no row without a kernel address");
    let protocol = |address: &str| {
        rows.iter()
            .find(|r| r["address"] == address)
            .map(|r| r["protocol"].as_u64().unwrap())
    };
    assert_eq!(protocol("192.168.0.1"), Some(0xa1));
    assert_eq!(protocol("192.168.1.7"), Some(0xa2));
    assert_eq!(protocol("192.168.1.1"), Some(0));
}

#[test]
fn a_read_only_config_directory_still_applies() {
    // Appliances and early boot mount /etc read-only: the run lock lives
    // under /run, so `apply` (the boot unit) still restores the aliases.
    let lab = Lab::new();
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.0.1/24\"\n",
    );
    let dir = lab.config_path().parent().unwrap().display().to_string();
    // A read-only bind mount of the config directory, in a mount namespace
    // of this command alone (the host's mounts are untouched).
    let script = format!(
        "mount --bind '{dir}' '{dir}' && mount -o remount,ro,bind '{dir}' && \
         if touch '{dir}/probe' 2>/dev/null; then echo 'still writable'; exit 3; fi && \
         exec \"$@\""
    );
    let apply = lab.alias_mgr_command(&["apply"]);
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--", "sh", "-c", &script, "sh"])
        .arg(apply.get_program())
        .args(apply.get_args())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "apply with a read-only config directory failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(lab.host.has_address("eth1", "192.168.0.1/24"));
    assert!(!std::path::Path::new(&dir)
        .join(".alias-mgr.toml.lock")
        .exists());
}

#[test]
fn counters_that_cannot_work_leave_addresses_routes_and_zones_in_place() {
    // A --pin-dir that is no bpffs: per-address counters are impossible,
    // which must not cost the aliases, their routes or their zone.
    let lab = Lab::new();
    lab.address_peer();
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.0.1/24\"\nzone = \"lab\"\n\
         routes = [\"198.51.100.0/24@192.168.0.254\"]\n\n[zone.lab]\ninput = \"accept\"\n",
    );
    let not_bpffs = lab.dir.join("pins-on-tmpfs");
    let run = |args: &[&str]| {
        lab.host
            .command(env!("CARGO_BIN_EXE_alias-mgr"))
            .arg("--config")
            .arg(lab.config_path())
            .arg("--pin-dir")
            .arg(&not_bpffs)
            .args(args)
            .output()
            .unwrap()
    };
    let plan = run(&["plan"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        text.contains("per-address counters are off") && text.contains("not a bpf filesystem"),
        "{text}"
    );
    let out = run(&["apply"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("per-address counters are off"), "{stdout}");
    assert!(lab.host.has_address("eth1", "192.168.0.1/24"));
    assert!(lab.host.has_route("-4", "198.51.100.0/24"));
    assert!(lab
        .host
        .try_sh(&["nft", "list", "table", "inet", "alias_mgr"]));
    // Nothing was created where the pins would have gone.
    assert!(!not_bpffs.exists());
    // And a second run has nothing left to do; `list` says why no counts.
    assert!(run(&["apply"]).status.success());
    let list = run(&["list", "--json"]);
    let warning = String::from_utf8_lossy(&list.stderr);
    assert!(
        warning.contains("per-address counters are off")
            && warning.contains("not a bpf filesystem"),
        "{warning}"
    );
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["rx_packets"].is_null()));
}
