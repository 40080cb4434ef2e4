//! Many hosts, one Prometheus: three namespace "hosts", each with its own
//! daemon and aliases, scraped by one real Prometheus (Debian's) found
//! through file-based service discovery. The alert rules and the dashboard
//! must tell the hosts apart by `instance`, which only Prometheus sets.

use std::{
    path::Path,
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    daemon::{dashboard_queries_for, start_prometheus, Daemon},
    util::{write, Lab, Netns},
};

const HOSTS: usize = 3;
/// The host whose one alias a hand-added address is in the way of.
const TROUBLED: usize = 1;

fn instance(host: usize) -> String {
    format!("10.200.0.{}:16100", host + 1)
}

/// A host's config: one alias of its own (and, on the troubled host, one in
/// conflict with an address someone added by hand).
fn config_of(host: usize) -> String {
    let mut text = format!(
        "[settings]\narp_probe_ms = 0\nannounce_count = 0\n\n\
         [[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.{}/24\"\n",
        host + 1
    );
    if host == TROUBLED {
        text.push_str("\n[[alias]]\ninterface = \"eth1\"\naddress = \"10.80.0.1/24\"\n");
    } else {
        // The same address on two hosts (two sites' gateways, say).
        text.push_str(&format!(
            "\n[[alias]]\ninterface = \"eth1\"\naddress = \"{SHARED}/24\"\n"
        ));
    }
    text
}

/// An address the hosts other than the troubled one both carry.
const SHARED: &str = "198.51.100.7";

/// The monitoring network: a bridge in `monitor`, a leg into each host.
fn connect(monitor: &Netns, lab: &Lab, host: usize) {
    let leg = format!("m{host}");
    let ok = monitor
        .command("ip")
        .args(["link", "add", &leg, "type", "veth", "peer", "name", "mgmt"])
        .args(["netns", &lab.host.name])
        .status()
        .unwrap();
    assert!(ok.success());
    monitor.sh(&["ip", "link", "set", &leg, "master", "br0", "up"]);
    lab.host
        .add_address("mgmt", &format!("10.200.0.{}/24", host + 1));
    lab.host.sh(&["ip", "link", "set", "mgmt", "up"]);
}

/// A PromQL query against the Prometheus in `monitor`: its result vector.
fn query(monitor: &Netns, promql: &str) -> Option<Vec<Value>> {
    let out = monitor
        .command("curl")
        .args([
            "-s",
            "--max-time",
            "5",
            "http://127.0.0.1:9090/api/v1/query",
        ])
        .args(["--data-urlencode", &format!("query={promql}")])
        .output()
        .ok()?;
    let body: Value = serde_json::from_slice(&out.stdout).ok()?;
    (body["status"] == "success").then(|| {
        body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    })
}

/// The `instance` labels of a query's series, sorted.
fn instances(monitor: &Netns, promql: &str) -> Vec<String> {
    let mut found: Vec<String> = query(monitor, promql)
        .unwrap_or_else(|| panic!("Prometheus refused {promql}"))
        .iter()
        .filter_map(|s| s["metric"]["instance"].as_str().map(str::to_string))
        .collect();
    found.sort();
    found
}

/// Every `expr:` of the shipped alert rules, by alert name.
fn alert_exprs() -> Vec<(String, String)> {
    let rules = std::fs::read_to_string(rules_file()).unwrap();
    let mut exprs = Vec::new();
    let mut alert = None;
    for line in rules.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("- alert: ") {
            alert = Some(name.to_string());
        } else if let (Some(expr), Some(name)) = (line.strip_prefix("expr: "), alert.take()) {
            exprs.push((name, expr.to_string()));
        }
    }
    exprs
}

fn rules_file() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus/alias-mgr-rules.yml")
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while !done() {
        assert!(Instant::now() < deadline, "{what} within 40 s:\n{}", log());
        thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn one_prometheus_tells_three_hosts_apart_and_alerts_name_the_one_in_trouble() {
    let monitor = Netns::new("mon");
    monitor.sh(&["ip", "link", "add", "br0", "type", "bridge"]);
    monitor.add_address("br0", "10.200.0.254/24");
    monitor.sh(&["ip", "link", "set", "br0", "up"]);
    monitor.sh(&["ip", "link", "set", "lo", "up"]);
    let labs: Vec<Lab> = (0..HOSTS).map(|_| Lab::new()).collect();
    for (host, lab) in labs.iter().enumerate() {
        connect(&monitor, lab, host);
        write(&lab.config_path(), &config_of(host));
    }
    labs[TROUBLED]
        .host
        .sh(&["ip", "addr", "add", "10.80.0.1/24", "dev", "eth1"]);
    let daemons: Vec<Daemon> = labs
        .iter()
        .enumerate()
        .map(|(host, lab)| Daemon::start(lab, &["--listen", &instance(host)]))
        .collect();
    // The exporter leaves `instance` and `job` to Prometheus.
    for daemon in &daemons {
        let text = daemon.metrics().text;
        assert!(!text.contains("instance=\"") && !text.contains("job=\""));
    }

    let dir = labs[0].dir.join("fleet-prometheus");
    std::fs::create_dir_all(&dir).unwrap();
    let targets: Vec<String> = (0..HOSTS).map(instance).collect();
    write(
        &dir.join("targets.json"),
        &serde_json::json!([{ "targets": targets, "labels": { "site": "lab" } }]).to_string(),
    );
    let config = dir.join("prometheus.yml");
    write(
        &config,
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {rules}\n\
             scrape_configs:\n  - job_name: alias-mgr\n    file_sd_configs:\n      \
             - files: ['{targets}']\n        refresh_interval: 1s\n",
            rules = rules_file().display(),
            targets = dir.join("targets.json").display(),
        ),
    );
    let (_prometheus, _) = start_prometheus(&monitor, &dir, &config);
    let prometheus_log = || std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default();
    let all: Vec<String> = (0..HOSTS).map(instance).collect();
    wait_for(
        "all three hosts up",
        || query(&monitor, "up == 1").is_some_and(|r| r.len() == HOSTS),
        prometheus_log,
    );
    wait_for(
        "the troubled host's conflict scraped",
        || !instances(&monitor, "alias_mgr_conflicts > 0").is_empty(),
        prometheus_log,
    );
    assert_eq!(
        instances(&monitor, r#"up{job="alias-mgr",site="lab"}"#),
        all
    );

    // Each alert's expression holds for exactly the host with the problem
    // (or none), and Prometheus has the conflict alerts pending (their
    // `for:` not yet over) for that host alone.
    let troubled = vec![instance(TROUBLED)];
    for (alert, expr) in alert_exprs() {
        let expected = match alert.as_str() {
            "AliasMgrConflicts" | "AliasMgrAliasNotApplied" => troubled.clone(),
            _ => vec![],
        };
        assert_eq!(instances(&monitor, &expr), expected, "{alert}: {expr}");
    }
    wait_for(
        "the conflict alerts pending",
        || {
            instances(&monitor, r#"ALERTS{alertname="AliasMgrConflicts"}"#) == troubled
                && instances(&monitor, r#"ALERTS{alertname="AliasMgrAliasNotApplied"}"#) == troubled
        },
        prometheus_log,
    );
    let mut alerting = instances(&monitor, "ALERTS");
    alerting.dedup();
    assert_eq!(alerting, troubled, "no other host has an alert");

    // The dashboard, filtered to one host, shows that host's addresses only.
    let mut filtered = 0;
    for host in 0..HOSTS {
        let own = format!("192.0.2.{}", host + 1);
        let queries = dashboard_queries_for(&regex_escape(&instance(host)));
        // The instance list itself (a variable's query) is every host's.
        for promql in queries.iter().filter(|q| q.contains("instance=~")) {
            for series in query(&monitor, promql).unwrap_or_default() {
                let metric = &series["metric"];
                if let Some(seen) = metric["instance"].as_str() {
                    assert_eq!(seen, instance(host), "{promql}");
                    filtered += 1;
                }
                if let Some(address) = metric["address"].as_str() {
                    let extra = if host == TROUBLED {
                        "10.80.0.1"
                    } else {
                        SHARED
                    };
                    assert!(
                        address == own || address == extra,
                        "host {host} shows {address}: {promql}"
                    );
                }
            }
        }
    }
    assert!(filtered > 0, "no dashboard query returned a host's series");
    // Unfiltered, the shared address is two series, one per host: the
    // panels sum by instance too.
    let shared_rx = dashboard_queries_for(".*")
        .into_iter()
        .find(|q| q.contains("alias_mgr_receive_bytes_total") && q.starts_with("sum by"))
        .expect("the RX panel");
    let shared_series = || {
        query(&monitor, &shared_rx)
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s["metric"]["address"] == SHARED)
            .count()
    };
    // A rate needs two scrapes of each host in its window: wait for them.
    wait_for(
        &format!("two series of {SHARED} from {shared_rx}"),
        || shared_series() == 2,
        prometheus_log,
    );
    assert_eq!(shared_series(), 2, "{shared_rx}");
    // The shipped rules' own unit tests, with promtool.
    let tests = rules_file().with_file_name("alias-mgr-rules.test.yml");
    let out = std::process::Command::new("promtool")
        .args(["test", "rules"])
        .arg(&tests)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    drop(daemons);
}

/// `10.200.0.1:16100` as a regex matching only itself.
fn regex_escape(text: &str) -> String {
    text.replace('.', "\\\\.")
}
