//! The bad-input corpus ("Nothing lost under careless input"): argument
//! sets and config files, each run by the real binary against a lab with
//! real state (an applied IPv4 and IPv6 alias, a label, a route, a zone,
//! counters attached, a foreign address). Every case must fail with one
//! clear line naming the problem and a fix, and leave the kernel, the
//! firewall, the sysctls, the pins and every file byte for byte as they were.

use std::{
    fs,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::Path,
    process::{Child, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::util::{write, Lab, Process};

/// What a file of a case holds, written into the lab directory before it runs.
enum Body {
    Text(&'static str),
    /// 17 MiB of comments: past the size limit.
    Huge,
    /// Bytes that are not UTF-8.
    Binary,
    Fifo,
    Dir,
    /// Text with this mode.
    Mode(&'static str, u32),
    /// Text owned by nobody (uid 65534).
    Foreign(&'static str),
}

struct Case {
    name: &'static str,
    /// Files in the lab directory (`{dir}` in `args`) for this case only.
    files: &'static [(&'static str, Body)],
    /// `{dir}` is the lab directory, `{pins}` the lab's pin directory; the
    /// lab's `--config` and `--pin-dir` are added unless given here.
    args: &'static [&'static str],
    /// Names the problem.
    problem: &'static str,
    /// Names the fix; `None`: one of [`FIX_WORDS`] will do.
    fix: Option<&'static str>,
}

const fn cli(
    name: &'static str,
    args: &'static [&'static str],
    problem: &'static str,
    fix: Option<&'static str>,
) -> Case {
    Case {
        name,
        files: &[],
        args,
        problem,
        fix,
    }
}

const fn with(
    name: &'static str,
    files: &'static [(&'static str, Body)],
    args: &'static [&'static str],
    problem: &'static str,
    fix: Option<&'static str>,
) -> Case {
    Case {
        name,
        files,
        args,
        problem,
        fix,
    }
}

/// A config file `{dir}/bad.toml` that `args` (with `--config` to it) are run against.
const fn conf(
    name: &'static str,
    body: &'static [(&'static str, Body)],
    args: &'static [&'static str],
    problem: &'static str,
    fix: Option<&'static str>,
) -> Case {
    with(name, body, args, problem, fix)
}

/// Words that start an instruction: a message with one of them names a fix.
const FIX_WORDS: &[&str] = &[
    "use ",
    "give ",
    "write ",
    "add ",
    "remove ",
    "drop ",
    "pick ",
    "check ",
    "run ",
    "set ",
    "create ",
    "pass ",
    "chmod",
    "chown",
    "shorten",
    "such as",
    "e.g.",
    "accepted forms",
    "valid keys",
    // Also instructions: a command to look with, a form to follow.
    "see `alias-mgr",
    "point ",
    "did you mean",
    "expected ",
    "must be ",
    "change ",
    "as in ",
];

/// The lab's config: two aliases (IPv4 with a label and a route, IPv6), a zone.
const LAB_CONFIG: &str = r#"# the lab: nothing of this may be lost
[[alias]]
interface = "eth1"
address = "192.168.0.1/24"
label = "eth1:0"
zone = "lab"
routes = ["10.9.0.0/16@192.168.0.254"]

[[alias]]
interface = "eth1"
address = "2001:db8::1/64"
label = "eth1:v6"
zone = "lab"

[zone.lab]
input = "drop"
allow = ["tcp/22", "icmp", "icmpv6"]
"#;

const A: &str = "[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.7.1/24\"\n";

#[rustfmt::skip]
const CLI_CASES: &[Case] = &[
    // Addresses.
    cli("not an IP", &["add", "eth1", "192.168.0.300"], "not an IP address", None),
    cli("/33", &["add", "eth1", "192.168.7.1/33"], "/33", None),
    cli("/129", &["add", "eth1", "2001:db8:7::1/129"], "/129", None),
    cli("negative prefix", &["add", "eth1", "192.168.7.1/-1"], "-1", None),
    cli("non-contiguous netmask", &["add", "eth1", "192.168.7.1/255.0.255.0"], "not contiguous", None),
    cli("ifconfig non-contiguous netmask", &["add", "eth1", "192.168.7.1", "netmask", "255.0.255.0"], "not contiguous", None),
    cli("ifconfig stray words", &["add", "eth1", "192.168.7.1", "broadcast", "192.168.7.255"], "unexpected \"broadcast 192.168.7.255\"", None),
    cli("IPv6 with dotted mask", &["add", "eth1", "2001:db8:7::1/255.255.255.0"], "255.255.255.0", None),
    cli("hostname", &["add", "eth1", "localhost"], "not an IP address", None),
    cli("empty address", &["add", "eth1", ""], "not an IP address", None),
    cli("IPv4 multicast", &["add", "eth1", "224.0.0.5/24"], "multicast", None),
    cli("IPv6 multicast", &["add", "eth1", "ff02::5/64"], "multicast", None),
    cli("IPv4 loopback", &["add", "eth1", "127.0.0.2/8"], "loopback", None),
    cli("IPv6 loopback", &["add", "eth1", "::1/128"], "loopback", None),
    cli("limited broadcast", &["add", "eth1", "255.255.255.255/32"], "255.255.255.255", None),
    cli("unspecified IPv4", &["add", "eth1", "0.0.0.0/8"], "0.0.0.0", None),
    cli("unspecified IPv6", &["add", "eth1", "::/64"], "::", None),
    cli("IPv4-mapped", &["add", "eth1", "::ffff:192.168.7.1/96"], "IPv4-mapped", None),
    cli("network address", &["add", "eth1", "192.168.7.0/24"], "network address", None),
    cli("broadcast address", &["add", "eth1", "192.168.7.255/24"], "broadcast address", None),
    cli("/0", &["add", "eth1", "192.168.7.1/0"], "/0", None),
    cli("foreign address, other prefix", &["add", "eth1", "192.168.1.1/16"], "192.168.1.1", None),
    cli("owned IPv6 again, other prefix", &["add", "eth1", "2001:db8::1/48"], "2001:db8::1", None),
    // Interfaces.
    cli("missing interface", &["add", "eth9", "192.168.7.1/24"], "\"eth9\" does not exist", None),
    cli("leading space", &["add", " eth1", "192.168.7.1/24"], "\" eth1\"", None),
    cli("tab in the name", &["add", "eth1\t", "192.168.7.1/24"], "eth1\\t", None),
    cli("name too long", &["add", "eth1234567890abcd", "192.168.7.1/24"], "\"eth1234567890abcd\" does not exist", None),
    cli("name with '/'", &["add", "eth/1", "192.168.7.1/24"], "\"eth/1\" does not exist", None),
    cli("':' first", &["add", ":eth1", "192.168.7.1/24"], "\":eth1\" has no interface", None),
    cli("':' last", &["add", "eth1:", "192.168.7.1/24"], "\"eth1:\"", None),
    cli("empty interface", &["add", "", "192.168.7.1/24"], "interface", None),
    cli("zero-width in the name", &["add", "eth\u{200b}1", "192.168.7.1/24"], "\"eth\\u{200b}1\"", None),
    // Labels.
    cli("label too long", &["add", "eth1", "192.168.7.1/24", "--label", "eth1:abcdefghijk"], "15", None),
    cli("label with a space", &["add", "eth1", "192.168.7.1/24", "--label", "eth1:a b"], "\"eth1:a b\"", None),
    cli("label with a control char", &["add", "eth1", "192.168.7.1/24", "--label", "eth1:\u{7}"], "label", None),
    cli("label with U+200B", &["add", "eth1", "192.168.7.1/24", "--label", "eth1:\u{200b}x"], "\"eth1:\\u{200b}x\" contains", None),
    cli("empty label", &["add", "eth1", "192.168.7.1/24", "--label", ""], "label", None),
    cli("another interface's label", &["add", "eth1", "192.168.7.1/24", "--label", "eth2:0"], "eth2", None),
    cli("label of the IPv6 alias", &["add", "eth1", "192.168.7.1/24", "--label", "eth1:v6"], "eth1:v6", None),
    cli("label and ifconfig form disagree", &["add", "eth1:3", "192.168.7.1/24", "--label", "eth1:4"], "eth1:4", None),
    // Zones.
    cli("unknown zone", &["add", "eth1", "192.168.7.1/24", "--zone", "Lab"], "\"Lab\"", None),
    cli("zone with a space", &["add", "eth1", "192.168.7.1/24", "--zone", "a b"], "\"a b\"", None),
    cli("empty zone", &["add", "eth1", "192.168.7.1/24", "--zone", ""], "zone", None),
    // Routes.
    cli("garbage route", &["add", "eth1", "192.168.7.1/24", "--route", "garbage"], "\"garbage\"", None),
    cli("route via the alias itself", &["add", "eth1", "192.168.7.1/24", "--route", "10.20.0.0/16@192.168.7.1"], "192.168.7.1", None),
    cli("route family mismatch", &["add", "eth1", "192.168.7.1/24", "--route", "2001:db8:5::/48@192.168.7.254"], "2001:db8:5::/48", None),
    cli("route with host bits", &["add", "eth1", "192.168.7.1/24", "--route", "10.20.0.1/16@192.168.7.254"], "10.20.0.1/16", None),
    cli("route of another alias", &["add", "eth1", "192.168.7.1/24", "--route", "10.9.0.0/16@192.168.7.254"], "10.9.0.0/16", None),
    cli("route twice", &["add", "eth1", "192.168.7.1/24", "--route", "10.20.0.0/16@192.168.7.254", "--route", "10.20.0.0/16@192.168.7.254"], "10.20.0.0/16", None),
    cli("route /33", &["add", "eth1", "192.168.7.1/24", "--route", "10.20.0.0/33"], "/33", None),
    cli("unreachable gateway", &["add", "eth1", "192.168.7.1/24", "--route", "10.20.0.0/16@172.16.0.1"], "172.16.0.1", None),
    // del and list.
    cli("del unknown IPv6", &["del", "eth1", "2001:db8::99"], "2001:db8::99", None),
    cli("del unknown label", &["del", "eth1:9"], "eth1:9", None),
    cli("del on a missing interface", &["del", "eth9", "192.168.0.1"], "eth9", None),
    cli("del not an IP", &["del", "eth1", "192.168.0.300"], "192.168.0.300", None),
    cli("del interface alone", &["del", "eth1"], "eth1", None),
    cli("del label with another address", &["del", "eth1:0", "192.168.0.2"], "192.168.0.2", None),
    cli("del label without interface", &["del", ":0"], "\":0\" has no interface", None),
    cli("list label without interface", &["list", ":0"], "\":0\" has no interface", None),
    cli("list unknown label", &["list", "eth1:nope"], "eth1:nope", None),
    cli("list missing interface", &["list", "eth9"], "\"eth9\" does not exist", None),
    // Missing and mistyped --config for every command that reads it.
    cli("missing config: add", &["--config", "{dir}/alias-mgr.tmol", "add", "eth1", "192.168.7.1/24"], "does not exist", None),
    cli("missing config: del", &["--config", "{dir}/alias-mgr.tmol", "del", "eth1", "192.168.0.1"], "does not exist", None),
    cli("missing config: del label", &["--config", "{dir}/alias-mgr.tmol", "del", "eth1:0"], "does not exist", None),
    cli("missing config: plan", &["--config", "{dir}/alias-mgr.tmol", "plan"], "does not exist", None),
    cli("missing config: apply", &["--config", "{dir}/alias-mgr.tmol", "apply"], "does not exist", None),
    cli("missing config: apply --dry-run", &["--config", "{dir}/alias-mgr.tmol", "apply", "--dry-run"], "does not exist", None),
    cli("missing config: zones", &["--config", "{dir}/alias-mgr.tmol", "zones"], "does not exist", None),
    cli("missing config: daemon", &["--config", "{dir}/alias-mgr.tmol", "daemon", "--listen", "127.0.0.1:0"], "does not exist", None),
    cli("config in a missing directory", &["--config", "{dir}/nodir/alias-mgr.toml", "apply"], "does not exist", None),
    cli("config is the directory", &["--config", "{dir}", "apply"], "directory", None),
    cli("empty --config", &["--config", "", "apply"], "config", None),
    // Bad --pin-dir values.
    cli("pin dir off bpffs: attach", &["--pin-dir", "{dir}", "counters", "attach", "eth1"], "bpf", None),
    cli("pin dir off bpffs: track", &["--pin-dir", "{dir}/pins", "counters", "track", "192.168.0.1"], "bpf", None),
    cli("pin dir is a file", &["--pin-dir", "{dir}/alias-mgr.toml", "counters", "track", "192.168.0.1"], "alias-mgr.toml", None),
    cli("empty pin dir", &["--pin-dir", "", "counters", "attach", "eth1"], "pin", None),
    // The daemon's flags.
    cli("listen garbage", &["daemon", "--listen", "foo"], "'foo'", None),
    cli("listen without port", &["daemon", "--listen", "127.0.0.1"], "'127.0.0.1'", None),
    cli("port out of range", &["daemon", "--listen", "127.0.0.1:99999"], "99999", None),
    cli("address not on the host", &["daemon", "--listen", "192.0.2.77:16100"], "192.0.2.77:16100", None),
    cli("port in use", &["daemon", "--listen", "127.0.0.1:16199"], "cannot listen on 127.0.0.1:16199", Some("--listen")),
    cli("negative interval", &["daemon", "--reconcile-interval", "-1"], "-1", None),
    cli("interval not a number", &["daemon", "--reconcile-interval", "soon"], "'soon'", None),
    // import.
    cli("import unknown format", &["import", "csv", "{dir}/alias-mgr.toml"], "'csv'", Some("ifupdown")),
    cli("import missing file", &["import", "ifupdown", "{dir}/interfaces"], "interfaces", None),
    cli("import a directory", &["import", "iftab", "{dir}"], "directory", None),
    cli("import a device", &["import", "ifupdown", "/dev/zero"], "not a regular file", None),
    with("import sourcing a device", &[("interfaces", Body::Text("source /dev/zero\n"))], &["import", "ifupdown", "{dir}/interfaces", "--write"], "not a regular file", Some("remove the line")),
    with("ifupdown bad address", &[("interfaces", Body::Text("iface eth1:0 inet static\n    address 192.168.7.300/24\n"))], &["import", "ifupdown", "{dir}/interfaces", "--write"], "interfaces:2", None),
    with("ifupdown bad netmask", &[("interfaces", Body::Text("iface eth1:0 inet static\n    address 192.168.7.1\n    netmask 255.0.255.0\n"))], &["import", "ifupdown", "{dir}/interfaces", "--write"], "interfaces:3", None),
    with("iftab bad line", &[("iftab", Body::Text("en0 inet 192.168.32.27 netmask 255.255.255.0 alias\nen0 inet6 2001:db8::1 prefixlen 200 alias\n"))], &["import", "iftab", "{dir}/iftab", "--write"], "iftab:2", None),
    with("ifaliases bad line", &[("ifaliases", Body::Text("192.168.7.1 eth1 255.255.255.0\n192.168.7.2\n"))], &["import", "ifaliases", "{dir}/ifaliases", "--write"], "ifaliases:2", None),
    with("ifaliases multicast", &[("ifaliases", Body::Text("224.0.0.9 eth1 255.255.255.0\n"))], &["import", "ifaliases", "{dir}/ifaliases", "--write"], "multicast", None),
    with("import not UTF-8", &[("interfaces", Body::Binary)], &["import", "ifupdown", "{dir}/interfaces", "--write"], "UTF-8", None),
    with("import --write to a mistyped config", &[("ifaliases", Body::Text("192.168.8.1 eth1 255.255.255.0\n"))], &["--config", "{dir}/alias-mgr.tmol", "import", "ifaliases", "{dir}/ifaliases", "--write"], "does not exist, and alias-mgr holds", Some("touch")),
    // counters with bad interfaces and addresses.
    cli("attach missing interface", &["counters", "attach", "eth9"], "\"eth9\" does not exist", None),
    cli("attach a label", &["counters", "attach", "eth1:0"], "eth1:0", None),
    cli("detach missing interface", &["counters", "detach", "eth9"], "eth9", None),
    cli("track not an IP", &["counters", "track", "eth1"], "'eth1'", None),
    cli("untrack with prefix", &["counters", "untrack", "192.168.0.1/24"], "'192.168.0.1/24'", None),
    // Unknown subcommands and flags, missing values.
    cli("unknown subcommand", &["frob"], "'frob'", None),
    cli("misspelt subcommand", &["aply"], "'aply'", Some("apply")),
    cli("no subcommand", &[], "command", None),
    cli("counters without subcommand", &["counters"], "counters", None),
    cli("unknown flag", &["add", "eth1", "192.168.7.1/24", "--bogus"], "'--bogus'", None),
    cli("missing address", &["add", "eth1"], "<ADDRESS>", None),
    cli("--label without value", &["add", "eth1", "192.168.7.1/24", "--label"], "--label", None),
    cli("--config without value", &["plan", "--config"], "--config", None),
    cli("del without arguments", &["del"], "<INTERFACE>", None),
    cli("import without file", &["import", "ifupdown"], "<FILE>", None),
    cli("flag of another command", &["list", "--yes"], "'--yes'", None),
];

#[rustfmt::skip]
const CONFIG_CASES: &[Case] = &[
    conf("syntax error", &[("bad.toml", Body::Text("[[alias]]\ninterface = \"eth1\"\naddress = 192.168.7.1/24\n"))], &["apply"], "bad.toml:3:", None),
    conf("unclosed table", &[("bad.toml", Body::Text("[[alias\ninterface = \"eth1\"\n"))], &["plan"], "bad.toml:1:", None),
    conf("unknown key", &[("bad.toml", Body::Text("[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.7.1/24\"\nlable = \"eth1:7\"\n"))], &["apply"], "lable", None),
    conf("unknown settings key", &[("bad.toml", Body::Text("[settings]\npromote_secondary = true\n"))], &["apply"], "promote_secondary", None),
    conf("unknown top-level table", &[("bad.toml", Body::Text("[aliases]\ninterface = \"eth1\"\n"))], &["apply"], "aliases", None),
    conf("wrong type: address", &[("bad.toml", Body::Text("[[alias]]\ninterface = \"eth1\"\naddress = 17\n"))], &["apply"], "bad.toml:3:", None),
    conf("wrong type: routes", &[("bad.toml", Body::Text(concat!("[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.7.1/24\"\n", "routes = \"10.20.0.0/16\"\n")))], &["apply"], "bad.toml:4:", None),
    conf("wrong type: setting", &[("bad.toml", Body::Text("[settings]\ncounters = \"yes\"\n"))], &["apply"], "bad.toml:2:", None),
    conf("missing interface key", &[("bad.toml", Body::Text("[[alias]]\naddress = \"192.168.7.1/24\"\n"))], &["apply"], "interface", None),
    conf("missing address key", &[("bad.toml", Body::Text("[[alias]]\ninterface = \"eth1\"\n"))], &["apply"], "address", None),
    conf("duplicate address", &[("bad.toml", Body::Text(concat!("[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.7.1/24\"\n", "[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.7.1/24\"\n")))], &["apply"], "192.168.7.1", None),
    conf("duplicate label", &[("bad.toml", Body::Text(concat!("[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.7.1/24\"\nlabel = \"eth1:7\"\n", "[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.8.1/24\"\nlabel = \"eth1:7\"\n")))], &["apply"], "eth1:7", None),
    conf("bad address in file", &[("bad.toml", Body::Text("[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.7.256/24\"\n"))], &["apply"], "192.168.7.256", None),
    conf("multicast in file", &[("bad.toml", Body::Text("[[alias]]\ninterface = \"eth1\"\naddress = \"239.1.1.1/24\"\n"))], &["apply"], "multicast", None),
    conf("bad label in file", &[("bad.toml", Body::Text("[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.7.1/24\"\nlabel = \"eth1:\u{200b}\"\n"))], &["apply"], "\"eth1:\\u{200b}\" contains", None),
    conf("bad interface in file", &[("bad.toml", Body::Text("[[alias]]\ninterface = \"eth 1\"\naddress = \"192.168.7.1/24\"\n"))], &["apply"], "\"eth 1\"", None),
    conf("bad route in file", &[("bad.toml", Body::Text(concat!("[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.7.1/24\"\n", "routes = [\"10.20.0.1/16@192.168.7.254\"]\n")))], &["apply"], "10.20.0.1/16", None),
    conf("bad verdict", &[("bad.toml", Body::Text("[zone.z]\ninput = \"allow\"\n"))], &["apply"], "\"allow\"", None),
    conf("bad forward verdict", &[("bad.toml", Body::Text("[zone.z]\nforward = { y = \"maybe\" }\n[zone.y]\n"))], &["apply"], "\"maybe\"", None),
    conf("service port 0", &[("bad.toml", Body::Text("[zone.z]\nallow = [\"tcp/0\"]\n"))], &["apply"], "tcp/0", None),
    conf("service port 99999", &[("bad.toml", Body::Text("[zone.z]\nallow = [\"tcp/99999\"]\n"))], &["apply"], "99999", None),
    conf("service reversed range", &[("bad.toml", Body::Text("[zone.z]\nallow = [\"tcp/8080-8000\"]\n"))], &["apply"], "8080-8000", None),
    conf("icmp with a port", &[("bad.toml", Body::Text("[zone.z]\nallow = [\"icmp/8\"]\n"))], &["apply"], "icmp/8", None),
    conf("unknown protocol", &[("bad.toml", Body::Text("[zone.z]\nallow = [\"sctp/80\"]\n"))], &["apply"], "sctp", None),
    conf("forward to unknown zone", &[("bad.toml", Body::Text("[zone.z]\nforward = { nowhere = \"accept\" }\n"))], &["apply"], "nowhere", None),
    conf("alias in unknown zone", &[("bad.toml", Body::Text("[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.7.1/24\"\nzone = \"nowhere\"\n"))], &["apply"], "nowhere", None),
    conf("invalid zone name", &[("bad.toml", Body::Text("[zone.\"a b\"]\ninput = \"drop\"\n"))], &["apply"], "\"a b\"", None),
    conf("overlapping zone subnets", &[("bad.toml", Body::Text("[zone.z]\nsubnets = [\"10.50.0.0/16\"]\n[zone.y]\nsubnets = [\"10.50.1.0/24\"]\n"))], &["apply"], "10.50.1.0/24", None),
    conf("subnet with host bits", &[("bad.toml", Body::Text("[zone.z]\nsubnets = [\"10.50.0.1/16\"]\n"))], &["apply"], "10.50.0.1/16", None),
    conf("[alias] as one table", &[("bad.toml", Body::Text("[alias]\ninterface = \"eth1\"\naddress = \"192.168.7.1/24\"\n"))], &["apply"], "[[alias]]", None),
    conf("huge file", &[("bad.toml", Body::Huge)], &["apply"], "MiB", None),
    conf("not UTF-8", &[("bad.toml", Body::Binary)], &["apply"], "UTF-8", None),
    conf("a FIFO", &[("bad.toml", Body::Fifo)], &["apply"], "FIFO", None),
    conf("a directory", &[("bad.toml", Body::Dir)], &["apply"], "directory", None),
    conf("group-writable", &[("bad.toml", Body::Mode(A, 0o664))], &["apply"], "writable by group", Some("chmod go-w")),
    conf("world-writable, on add", &[("bad.toml", Body::Mode(A, 0o646))], &["add", "eth1", "192.168.8.1/24"], "writable by others", Some("chmod go-w")),
    conf("owned by another user", &[("bad.toml", Body::Foreign(A))], &["apply"], "owned by uid 65534", Some("chown root")),
    conf("bad file: plan", &[("bad.toml", Body::Text("[[alias]]\ninterface = \"eth1\"\n"))], &["plan"], "address", None),
    conf("bad file: add", &[("bad.toml", Body::Text("[[alias]]\ninterface = \"eth1\"\n"))], &["add", "eth1", "192.168.8.1/24"], "address", None),
    conf("bad file: del", &[("bad.toml", Body::Text("[[alias]]\ninterface = \"eth1\"\n"))], &["del", "eth1", "192.168.0.1"], "address", None),
    conf("bad file: daemon", &[("bad.toml", Body::Text("[[alias]]\ninterface = \"eth1\"\n"))], &["daemon", "--listen", "127.0.0.1:0"], "address", None),
    conf("bad file: zones", &[("bad.toml", Body::Text("[zone.z]\ninput = \"allow\"\n"))], &["zones"], "\"allow\"", None),
    conf("bad file: import --write", &[("bad.toml", Body::Text("[[alias]]\ninterface = \"eth1\"\n")), ("ifaliases", Body::Text("192.168.8.1 eth1 255.255.255.0\n"))], &["import", "ifaliases", "{dir}/ifaliases", "--write"], "address", None),
];

/// Everything a case could change, as the kernel's own tools and the
/// filesystem show it, minus what changes by itself.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    addresses: Value,
    routes4: String,
    routes6: String,
    ruleset: String,
    sysctls: Vec<String>,
    pins: Vec<String>,
    /// Every entry of the lab directory: name, mode, uid and bytes.
    files: Vec<(String, u32, u32, Vec<u8>)>,
}

const SYSCTLS: &[&str] = &[
    "net.ipv4.conf.eth1.promote_secondaries",
    "net.ipv4.conf.all.promote_secondaries",
    "net.ipv6.conf.eth1.disable_ipv6",
];

fn snapshot(lab: &Lab) -> Snapshot {
    let mut addresses = lab.host.json(&["ip", "-j", "addr"]);
    // Lifetimes count down by themselves.
    for link in addresses.as_array_mut().unwrap() {
        for info in link["addr_info"].as_array_mut().into_iter().flatten() {
            let info = info.as_object_mut().unwrap();
            info.remove("valid_life_time");
            info.remove("preferred_life_time");
        }
    }
    Snapshot {
        addresses,
        routes4: lab
            .host
            .sh(&["ip", "-4", "-j", "route", "show", "table", "all"]),
        routes6: lab
            .host
            .sh(&["ip", "-6", "-j", "route", "show", "table", "all"]),
        ruleset: lab.host.sh(&["nft", "-j", "list", "ruleset"]),
        sysctls: SYSCTLS
            .iter()
            .map(|key| lab.host.sh(&["sysctl", key]))
            .collect(),
        pins: listing(&lab.pin_dir)
            .into_iter()
            .map(|(name, ..)| name)
            .collect(),
        files: listing(&lab.dir),
    }
}

/// Every entry under `dir` (recursively), with its mode, owner and the
/// bytes of regular files.
fn listing(dir: &Path) -> Vec<(String, u32, u32, Vec<u8>)> {
    let mut entries = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let bytes = if meta.is_file() && !lab_pin(&path) {
                fs::read(&path).unwrap()
            } else {
                Vec::new()
            };
            if meta.is_dir() {
                todo.push(path.clone());
            }
            entries.push((path.display().to_string(), meta.mode(), meta.uid(), bytes));
        }
    }
    entries.sort();
    entries
}

/// Pins read as map dumps (counters that may move): names only.
fn lab_pin(path: &Path) -> bool {
    path.starts_with("/sys/fs/bpf")
}

/// The lab with real state: the config applied (two aliases, a label, a
/// route, a zone, counters), a foreign address on eth1, a second
/// interface eth2, and no address still tentative.
fn applied_lab() -> Lab {
    let lab = Lab::new();
    lab.host
        .sh(&["ip", "addr", "add", "192.168.1.1/24", "dev", "eth1"]);
    lab.host.sh(&[
        "ip", "link", "add", "eth2", "type", "veth", "peer", "name", "eth3",
    ]);
    write(&lab.config_path(), LAB_CONFIG);
    lab.ok(&["apply"]);
    settle(&lab);
    let listed = lab.ok(&["list", "--json"]);
    assert!(listed.contains("\"2001:db8::1\"") && listed.contains("\"eth1:0\""));
    assert!(lab.host.has_route("-4", "10.9.0.0/16"));
    assert!(!listing(&lab.pin_dir).is_empty(), "counters are pinned");
    lab
}

/// Waits until no address is tentative (DAD changes flags by itself).
fn settle(lab: &Lab) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while lab.host.sh(&["ip", "addr"]).contains("tentative") {
        assert!(Instant::now() < deadline, "an address stays tentative");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn create(lab: &Lab, name: &str, body: &Body) {
    let path = lab.dir.join(name);
    match body {
        Body::Text(text) => write(&path, text),
        Body::Huge => {
            let line = "# padding padding padding padding padding padding padding\n";
            write(&path, &line.repeat(17 * 1024 * 1024 / line.len() + 1));
        }
        Body::Binary => fs::write(&path, b"[[alias]]\ninterface = \"\xff\xfe\"\n\x00\x01").unwrap(),
        Body::Fifo => {
            testkit::sh(&["mkfifo", path.to_str().unwrap()]).unwrap_or_else(|f| panic!("{f}"));
        }
        Body::Dir => fs::create_dir(&path).unwrap(),
        Body::Mode(text, mode) => {
            write(&path, text);
            fs::set_permissions(&path, fs::Permissions::from_mode(*mode)).unwrap();
        }
        Body::Foreign(text) => {
            write(&path, text);
            std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        }
    }
}

fn remove(lab: &Lab, name: &str) {
    let path = lab.dir.join(name);
    if path.is_dir() {
        fs::remove_dir_all(&path).unwrap();
    } else {
        fs::remove_file(&path).unwrap();
    }
}

/// Runs the binary for a case, killed (and the case failed) after 15 s.
fn run(lab: &Lab, case: &Case) -> Result<Output, String> {
    let dir = lab.dir.display().to_string();
    let pins = lab.pin_dir.display().to_string();
    let args: Vec<String> = case
        .args
        .iter()
        .map(|a| a.replace("{dir}", &dir).replace("{pins}", &pins))
        .collect();
    let mut command = lab.host.command(env!("CARGO_BIN_EXE_alias-mgr"));
    if !case.args.contains(&"--config") {
        let config = if case.files.iter().any(|(name, _)| *name == "bad.toml") {
            lab.dir.join("bad.toml")
        } else {
            lab.config_path()
        };
        command.arg("--config").arg(config);
    }
    if !case.args.contains(&"--pin-dir") {
        command.arg("--pin-dir").arg(&lab.pin_dir);
    }
    let mut child: Child = command
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(15) {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            return Err(format!(
                "still running after 15 s; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(child.wait_with_output().unwrap())
}

/// What is wrong with a case's outcome, if anything. One clear message:
/// the last line of stderr is the only `alias-mgr: error:` line, every
/// other line is a warning or note of alias-mgr's.
fn judge(case: &Case, out: &Output) -> Vec<String> {
    let mut faults = Vec::new();
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        faults.push("exit status 0".to_string());
    }
    if out.status.code().is_none() || out.status.code() == Some(101) || err.contains("panicked") {
        faults.push(format!("crashed ({})", out.status));
    }
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    let errors: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("alias-mgr: error: "))
        .collect();
    if errors.len() != 1 {
        faults.push(format!("{} `alias-mgr: error:` lines", errors.len()));
    }
    let stray: Vec<&&str> = lines
        .iter()
        .filter(|l| {
            !l.starts_with("alias-mgr: error: ")
                && !l.starts_with("alias-mgr: warning: ")
                && !l.starts_with("alias-mgr: note: ")
        })
        .collect();
    if !stray.is_empty() {
        faults.push(format!(
            "lines that are no error, warning or note: {stray:?}"
        ));
    }
    if lines
        .last()
        .is_some_and(|l| !l.starts_with("alias-mgr: error: "))
    {
        faults.push("the error is not the last line".to_string());
    }
    let message = errors.first().map_or("", |l| l);
    if !message.contains(case.problem) {
        faults.push(format!("the problem {:?} is not named", case.problem));
    }
    let fix_named = match case.fix {
        Some(fix) => message.contains(fix),
        None => FIX_WORDS.iter().any(|word| message.contains(word)),
    };
    if !fix_named {
        faults.push(format!(
            "no fix named ({})",
            case.fix
                .map_or("no instruction word".into(), |f| format!("{f:?}"))
        ));
    }
    faults
}

/// A listener on 127.0.0.1:16199 in the lab's host namespace (for "port in use").
fn occupy_port(lab: &Lab) -> Process {
    let mut child = lab
        .host
        .command("python3")
        .args([
            "-c",
            "import socket,sys,time\ns=socket.socket()\ns.bind(('127.0.0.1',16199))\ns.listen()\nprint('ok',flush=True)\ntime.sleep(300)",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert_eq!(ready.trim(), "ok", "the port could not be taken");
    Process(child)
}

/// Runs every case against one applied lab; all faults are reported at once.
fn run_corpus(cases: &[Case]) {
    let started = Instant::now();
    let lab = applied_lab();
    let _port = occupy_port(&lab);
    let mut faults = Vec::new();
    let mut before = snapshot(&lab);
    for case in cases {
        for (name, body) in case.files {
            create(&lab, name, body);
        }
        if !case.files.is_empty() {
            before = snapshot(&lab);
        }
        let mut problems = match run(&lab, case) {
            Ok(out) => judge(case, &out)
                .into_iter()
                .map(|p| format!("{p}\n    stderr: {}", String::from_utf8_lossy(&out.stderr)))
                .collect(),
            Err(why) => vec![why],
        };
        let after = snapshot(&lab);
        if after != before {
            problems.push(changes(&before, &after));
        }
        for (name, _) in case.files {
            remove(&lab, name);
        }
        if after != before {
            // Back to the lab's state, so one defect does not mask the next cases.
            write(&lab.config_path(), LAB_CONFIG);
            lab.ok(&["apply"]);
            settle(&lab);
        }
        if !problems.is_empty() {
            faults.push(format!("{}: {}", case.name, problems.join("\n  ")));
        }
        before = snapshot(&lab);
    }
    let took = started.elapsed();
    eprintln!("{} bad-input cases in {took:.1?}", cases.len());
    assert!(
        faults.is_empty(),
        "{} of {} cases failed:\n{}",
        faults.len(),
        cases.len(),
        faults.join("\n")
    );
    assert!(took < Duration::from_secs(50), "the corpus took {took:?}");
}

/// Which parts of the snapshot a case changed.
fn changes(before: &Snapshot, after: &Snapshot) -> String {
    let mut parts = Vec::new();
    if before.addresses != after.addresses {
        parts.push(format!(
            "addresses: {} -> {}",
            before.addresses, after.addresses
        ));
    }
    for (what, b, a) in [
        ("IPv4 routes", &before.routes4, &after.routes4),
        ("IPv6 routes", &before.routes6, &after.routes6),
        ("ruleset", &before.ruleset, &after.ruleset),
    ] {
        if b != a {
            parts.push(format!("{what}: {b} -> {a}"));
        }
    }
    if before.sysctls != after.sysctls {
        parts.push(format!(
            "sysctls: {:?} -> {:?}",
            before.sysctls, after.sysctls
        ));
    }
    if before.pins != after.pins {
        parts.push(format!("pins: {:?} -> {:?}", before.pins, after.pins));
    }
    if before.files != after.files {
        let names = |s: &Snapshot| -> Vec<String> {
            s.files
                .iter()
                .map(|(n, m, u, b)| format!("{n} {m:o} {u} {}B", b.len()))
                .collect()
        };
        parts.push(format!("files: {:?} -> {:?}", names(before), names(after)));
    }
    format!("changed {}", parts.join("; "))
}

#[test]
fn bad_arguments_are_refused_with_one_clear_message_and_change_nothing() {
    assert!(CLI_CASES.len() >= 80, "{} cases", CLI_CASES.len());
    run_corpus(CLI_CASES);
}

#[test]
fn bad_config_files_are_refused_with_one_clear_message_and_change_nothing() {
    run_corpus(CONFIG_CASES);
}
