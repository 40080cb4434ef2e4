//! Concurrent runs: 20 parallel `add`s, then 20 parallel `del`s, then adds
//! mixed with applies. The run lock serializes them: no reader ever sees a
//! torn file, and the file ends describing exactly what the kernel holds.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    thread,
};

use crate::util::{write, Lab};

const RUNS: usize = 20;

fn address(n: usize) -> String {
    format!("10.60.{n}.1/24")
}

/// A file read while others write it is always a whole one: every alias
/// table with its address, the text ending in a newline.
fn assert_whole(text: &str) {
    let tables = text.matches("[[alias]]").count();
    let addresses = text.matches("\naddress = ").count();
    assert_eq!(tables, addresses, "torn file:\n{text}");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "torn file:\n{text}"
    );
}

/// Runs `commands` at once, each an alias-mgr argument list, while a reader
/// keeps reading the config; every command must succeed.
fn all_at_once(lab: &Lab, commands: Vec<Vec<String>>) {
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) {
                assert_whole(&std::fs::read_to_string(lab.config_path()).unwrap_or_default());
                reads += 1;
            }
            reads
        });
        let runs: Vec<_> = commands
            .iter()
            .map(|args| {
                scope.spawn(move || {
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    (args.join(" "), lab.alias_mgr(&args))
                })
            })
            .collect();
        for run in runs {
            let (args, out) = run.join().unwrap();
            assert!(
                out.status.success(),
                "alias-mgr {args}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        done.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    });
}

/// The file and the kernel agree: the same addresses, and nothing to do.
fn assert_in_sync(lab: &Lab, expected: &[usize]) {
    let text = lab.config_text();
    assert_whole(&text);
    let mut in_file: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("address = \""))
        .map(|l| l.trim_end_matches('"').to_string())
        .collect();
    in_file.sort();
    let mut wanted: Vec<String> = expected.iter().map(|n| address(*n)).collect();
    wanted.sort();
    assert_eq!(in_file, wanted, "the file");
    let mut in_kernel: Vec<String> = lab
        .host
        .addresses("eth1")
        .into_iter()
        .map(|(a, _)| a)
        .filter(|a| a.starts_with("10.60."))
        .collect();
    in_kernel.sort();
    assert_eq!(in_kernel, wanted, "the kernel (ip -j addr)");
    let plan = lab.ok(&["plan"]);
    assert!(plan.contains("nothing to do"), "{plan}");
}

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

#[test]
fn parallel_adds_dels_and_applies_leave_file_and_kernel_in_step() {
    let lab = Lab::new();
    write(&lab.config_path(), "");
    let adds = (0..RUNS)
        .map(|n| args(&["add", "eth1", &address(n)]))
        .collect();
    all_at_once(&lab, adds);
    assert_in_sync(&lab, &(0..RUNS).collect::<Vec<_>>());

    let dels = (0..RUNS)
        .map(|n| args(&["del", "eth1", address(n).split('/').next().unwrap()]))
        .collect();
    all_at_once(&lab, dels);
    assert_in_sync(&lab, &[]);

    let mixed = (0..RUNS)
        .map(|n| {
            if n % 2 == 0 {
                args(&["add", "eth1", &address(n)])
            } else {
                args(&["apply"])
            }
        })
        .collect();
    all_at_once(&lab, mixed);
    assert_in_sync(&lab, &(0..RUNS).step_by(2).collect::<Vec<_>>());
}

/// `counters track` from many processes at once (each its own writer of
/// the mapped table): every address ends up tracked, each with a counter
/// of its own, as the kernel's copy of the table shows.
#[test]
fn parallel_tracks_each_get_their_own_counter() {
    const LANES: usize = 8;
    const PER_LANE: usize = 40;
    let lab = Lab::new();
    // The first track creates the table; the rest race on it.
    lab.ok(&["counters", "track", "10.61.0.1"]);
    thread::scope(|scope| {
        for lane in 0..LANES {
            let lab = &lab;
            scope.spawn(move || {
                for n in 0..PER_LANE {
                    lab.ok(&[
                        "counters",
                        "track",
                        &format!("10.61.{}.{}", lane + 1, n + 1),
                    ]);
                }
            });
        }
    });
    let tracked = crate::util::tracked_in_kernel(&lab);
    assert_eq!(tracked.len(), LANES * PER_LANE + 1, "{tracked:?}");
    let mut distinct = tracked.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), tracked.len(), "an address counted twice");
    let shown: serde_json::Value =
        serde_json::from_str(&lab.ok(&["counters", "show", "--json"])).unwrap();
    assert_eq!(shown.as_array().unwrap().len(), LANES * PER_LANE + 1);
}
