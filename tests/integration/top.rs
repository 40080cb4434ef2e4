//! `alias-mgr top`: rates from counter deltas against traffic of a known
//! rate (ping at a set interval, iperf3 at a set bit rate) with --once and
//! --json, and the full-screen view driven in a real terminal (tmux:
//! send-keys to sort, filter, pause and quit, capture-pane to read it).

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    counters::{counting_lab, HOST4},
    util::{write, Lab, Process},
};

fn measure(lab: &Lab, interval: &str) -> Vec<Value> {
    let out = lab.ok(&["top", "--json", "--interval", interval]);
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn row<'a>(rows: &'a [Value], address: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["address"] == address)
        .unwrap_or_else(|| panic!("{address} not in {rows:?}"))
}

#[test]
fn rates_follow_pings_at_a_set_interval_and_iperf3_at_a_set_bit_rate() {
    let lab = counting_lab(true);
    write(&lab.config_path(), "[settings]\narp_probe_ms = 0\n");
    // 10 pings a second for 4 s; measured over 2 s in the middle.
    let _ping = Process(
        lab.peer
            .command("ping")
            .args(["-q", "-c", "40", "-i", "0.1", HOST4])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(std::time::Duration::from_millis(700));
    let rows = measure(&lab, "2s");
    let pinged = row(&rows, HOST4);
    let rx = pinged["rx_packets_per_s"].as_f64().unwrap();
    let tx = pinged["tx_packets_per_s"].as_f64().unwrap();
    assert!(
        (8.5..=11.5).contains(&rx) && (8.5..=11.5).contains(&tx),
        "{pinged}"
    );
    // 98-byte echo frames (84 IP + 14 Ethernet) at 10 a second.
    let bits = pinged["rx_bits_per_s"].as_f64().unwrap();
    assert!((bits - 7840.0).abs() < 1200.0, "{pinged}");
    assert_eq!(pinged["interface"], "eth1");

    // UDP at 20 Mbit/s of payload: 1470-byte datagrams are 1512-byte frames.
    let _server = Process(
        lab.host
            .command("iperf3")
            .args(["-s", "-1", "-B", HOST4, "-p", "5299"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _client = Process(
        lab.peer
            .command("iperf3")
            .args([
                "-c", HOST4, "-p", "5299", "-u", "-b", "20M", "-l", "1470", "-t", "5",
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let rows = measure(&lab, "2s");
    let flooded = row(&rows, HOST4);
    let rx = flooded["rx_bits_per_s"].as_f64().unwrap();
    let expected = 20e6 * 1512.0 / 1470.0;
    assert!(
        (rx / expected - 1.0).abs() < 0.1,
        "{rx} vs {expected}: {flooded}"
    );
    // The busiest first, and the plain table says the same.
    assert_eq!(rows[0]["address"], HOST4);
    let table = lab.ok(&["top", "--once", "--interval", "500ms", "eth1"]);
    assert!(table.starts_with("IFACE"), "{table}");
    assert!(table.lines().nth(1).unwrap().contains(HOST4), "{table}");
    assert!(table.contains("TOTAL"), "{table}");
}

/// A tmux server of its own (not the user's), killed with its panes on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A detached `width` x `height` session running `script` with sh.
    fn start(tag: &str, script: &Path, width: u16, height: u16) -> Self {
        let tmux = Tmux {
            socket: format!("am{}-{tag}", std::process::id()),
        };
        let (width, height) = (width.to_string(), height.to_string());
        let script = script.to_str().unwrap();
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            &width,
            "-y",
            &height,
            "sh",
            script,
        ]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "top"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Waits up to 15 s for the screen to satisfy `test`; panics with the
    /// screen otherwise.
    fn wait_for(&self, what: &str, test: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let screen = self.screen();
            if test(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// The line of `screen` `text` is on.
fn line_of(screen: &str, text: &str) -> Option<usize> {
    screen.lines().position(|line| line.contains(text))
}

/// Whether `first` is on a line above `second`.
fn above(screen: &str, first: &str, second: &str) -> bool {
    matches!((line_of(screen, first), line_of(screen, second)), (Some(a), Some(b)) if a < b)
}

const BUSY: &str = "192.0.2.5";

/// Two aliases (the second to be kept busy), one in a zone, and one
/// waiting for an interface that does not exist.
fn top_lab() -> Lab {
    let lab = Lab::new();
    lab.quiet_link(&[(HOST4, "192.0.2.2"), (BUSY, "192.0.2.2")]);
    lab.address_peer();
    write(
        &lab.config_path(),
        &format!(
            r#"[settings]
arp_probe_ms = 0
announce_count = 0

[[alias]]
interface = "eth1"
address = "{HOST4}/24"
label = "eth1:0"
zone = "lab"

[[alias]]
interface = "eth1"
address = "{BUSY}/24"
label = "eth1:1"

[[alias]]
interface = "eth9"
address = "10.9.0.1/24"

[zone.lab]
input = "accept"
"#
        ),
    );
    lab.ok(&["apply"]);
    lab
}

/// A script for the pane: the terminal's settings before and after `top`,
/// and how it exited, written into the lab's directory.
fn pane_script(lab: &Lab) -> PathBuf {
    let dir = lab.dir.display();
    let script = lab.dir.join("pane.sh");
    write(
        &script,
        &format!(
            "stty -g > {dir}/tty-before\n\
             TERM=xterm-256color NO_COLOR= nsenter --net=/run/netns/{ns} {bin} --config {config} --pin-dir {pins} top --interval 500ms\n\
             status=$?\n\
             stty -g > {dir}/tty-after\n\
             echo \"top-exited=$status\" > {dir}/exit.part && mv {dir}/exit.part {dir}/exit\n\
             sleep 600\n",
            ns = lab.host.name,
            bin = env!("CARGO_BIN_EXE_alias-mgr"),
            config = lab.config_path().display(),
            pins = lab.pin_dir.display(),
        ),
    );
    script
}

/// The pane's command ended: how, and whether the terminal is as it was.
fn wait_for_exit(lab: &Lab, tmux: &Tmux) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Ok(exit) = std::fs::read_to_string(lab.dir.join("exit")) {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "top did not exit:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // The exit file is renamed into place after tty-after is written: both
    // are whole once it is there.
    let read = |name| std::fs::read_to_string(lab.dir.join(name)).unwrap();
    assert_eq!(
        read("tty-before"),
        read("tty-after"),
        "the terminal's modes restored"
    );
    // Out of the alternate screen, the cursor shown again.
    let modes = tmux.run(&[
        "display",
        "-p",
        "-t",
        "top",
        "#{alternate_on} #{cursor_flag}",
    ]);
    assert_eq!(modes.trim(), "0 1", "{}", tmux.screen());
    exit.trim().to_string()
}

#[test]
fn the_full_screen_view_shows_the_busy_alias_first_sorts_pauses_and_quits_cleanly() {
    let lab = top_lab();
    let tmux = Tmux::start("top", &pane_script(&lab), 130, 32);
    let _ping = Process(
        lab.peer
            .command("ping")
            .args(["-q", "-c", "1500", "-i", "0.01", BUSY])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let screen = tmux.wait_for("the busy alias first, counted", |s| {
        above(s, BUSY, HOST4)
            && line_of(s, BUSY).is_some_and(|l| s.lines().nth(l).unwrap().contains("Kb/s"))
    });
    // Its row: interface, label, rates; the idle one has its zone.
    let busy = screen.lines().nth(line_of(&screen, BUSY).unwrap()).unwrap();
    assert!(
        busy.starts_with("eth1") && busy.contains("eth1:1"),
        "{screen}"
    );
    let idle = screen
        .lines()
        .nth(line_of(&screen, HOST4).unwrap())
        .unwrap();
    assert!(idle.contains("lab") && idle.contains("0 b/s"), "{screen}");
    assert!(
        screen.contains("LAST MINUTE") && screen.contains("TOTAL RX"),
        "{screen}"
    );
    assert!(
        screen.contains("zones:") && screen.contains("IN drop"),
        "{screen}"
    );
    tmux.wait_for("the pending alias on the status line", |s| {
        s.contains("! pending: 10.9.0.1/24 on eth9")
    });

    // Five steps of the sort key reach the address: A to Z.
    tmux.keys(&["s", "s", "s", "s", "s"]);
    tmux.wait_for("sorted by address", |s| {
        s.contains("sort: address ▲") && above(s, HOST4, BUSY)
    });
    tmux.keys(&["r"]);
    tmux.wait_for("reversed", |s| {
        s.contains("sort: address ▼") && above(s, BUSY, HOST4)
    });
    tmux.keys(&["z"]);
    tmux.wait_for("only the lab zone", |s| {
        s.contains("zone lab") && line_of(s, HOST4).is_some() && line_of(s, BUSY).is_none()
    });
    tmux.keys(&["c", "p"]);
    tmux.wait_for("paused", |s| {
        s.contains("PAUSED") && line_of(s, BUSY).is_some()
    });
    tmux.keys(&["q"]);
    assert_eq!(wait_for_exit(&lab, &tmux), "top-exited=0");
}

#[test]
fn the_full_screen_view_gives_the_terminal_back_on_sigterm_and_ctrl_c() {
    let lab = top_lab();
    for (tag, stop) in [("term", "SIGTERM"), ("ctrlc", "C-c")] {
        let _ = std::fs::remove_file(lab.dir.join("exit"));
        let tmux = Tmux::start(tag, &pane_script(&lab), 100, 24);
        tmux.wait_for("the view", |s| {
            s.contains("alias-mgr top ·") && s.contains(BUSY)
        });
        if stop == "SIGTERM" {
            let config = lab.config_path().display().to_string();
            let killed = Command::new("pkill")
                .args(["-TERM", "-f", &format!("alias-mgr --config {config} .*top")])
                .status()
                .unwrap();
            assert!(killed.success(), "no top process to signal");
        } else {
            tmux.keys(&[stop]);
        }
        assert_eq!(wait_for_exit(&lab, &tmux), "top-exited=0", "after {stop}");
    }
}

#[test]
fn the_full_screen_view_says_the_classifier_warned_and_what_is_not_counted() {
    use crate::counters::{ip_frame, run_classifier};
    let lab = counting_lab(true);
    // 192.0.2.77 is declared but not applied: neither on eth1 nor counted.
    write(
        &lab.config_path(),
        &format!(
            "[settings]\narp_probe_ms = 0\n\n[[alias]]\ninterface = \"eth1\"\naddress = \"{HOST4}/24\"\n\n\
             [[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.77/24\"\n"
        ),
    );
    // A GSO packet of GRE: the classifier warns that it cannot size the
    // repeated headers (see the daemon's test of the same).
    let (host, peer) = (HOST4.parse().unwrap(), "192.0.2.2".parse().unwrap());
    let frame = ip_frame(&[], peer, host, 47, &[0, 0, 0x08, 0x00], 3 * 500);
    run_classifier(&lab, "ingress", &frame, "gre", Some(3));
    let tmux = Tmux::start("warn", &pane_script(&lab), 180, 30);
    let screen = tmux.wait_for("the problems", |s| {
        s.contains("! the classifier on eth1 warned")
            && s.contains("! 1 declared address(es) not counted")
    });
    assert!(
        screen.contains("! the kernel differs from the config"),
        "{screen}"
    );
    tmux.keys(&["q"]);
    assert_eq!(wait_for_exit(&lab, &tmux), "top-exited=0");
}

#[test]
fn the_full_screen_view_follows_the_terminal_as_it_is_resized() {
    let lab = top_lab();
    let tmux = Tmux::start("resize", &pane_script(&lab), 130, 32);
    tmux.wait_for("the wide table", |s| {
        s.contains("LAST MINUTE") && line_of(s, HOST4).is_some()
    });
    let resize = |width: &str, height: &str| {
        tmux.run(&["resize-window", "-t", "top", "-x", width, "-y", height]);
    };
    // Narrow: the sparkline goes, the address stays.
    resize("60", "20");
    tmux.wait_for("the narrow table", |s| {
        !s.contains("LAST MINUTE") && line_of(s, HOST4).is_some()
    });
    resize("30", "8");
    tmux.wait_for("the too-small notice", |s| s.contains("terminal too small"));
    resize("130", "32");
    tmux.wait_for("the wide table again", |s| {
        s.contains("LAST MINUTE") && !s.contains("terminal too small")
    });
    tmux.keys(&["q"]);
    assert_eq!(wait_for_exit(&lab, &tmux), "top-exited=0");
}
