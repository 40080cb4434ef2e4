//! What the config tests share: an example file, short ways to parse and
//! to expect an error, and the names the tests use.

pub(super) use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

pub(super) use ipnet::IpNet;

pub(super) use super::{ConfigError, ConfigFile};
pub(super) use crate::core::{
    desired::Config,
    fixtures::{alias, ip},
    zones::{Service, ServiceProtocol, Verdict, ZoneSpec},
};

pub(super) fn zone<'c>(config: &'c Config, name: &str) -> Option<&'c ZoneSpec> {
    config.zones.iter().find(|z| z.name == name)
}

pub(super) const EXAMPLE: &str = r#"# alias-mgr desired state
# (hand-edited; alias-mgr keeps these comments)

[settings]
promote_secondaries = false   # managed by the distro

# the lab network, behind the router at .254
[[alias]]
interface = "eth1"
address = "192.168.0.1/24"
label = "eth1:0"
zone = "lab"
routes = ["10.9.0.0/16@192.168.0.254", "198.51.100.0/24"]

[[alias]]
interface = "eth1"
address = "2001:db8::1/64"   # v6 twin

# zones
[zone.lab]
subnets = ["10.50.0.0/16"]
input = "reject"
allow = ["tcp/22", "udp/53", "tcp/8000-8080", "icmp", "icmpv6"]
forward = { dmz = "accept" }

[zone.dmz]
subnets = ["203.0.113.0/24"]
"#;

pub(super) fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
    ConfigFile::parse(Path::new("test.toml"), text)
}

/// Line, column and message of the Invalid error `text` must produce.
pub(super) fn invalid(text: &str) -> (usize, usize, String) {
    match parse(text) {
        Err(ConfigError::Invalid {
            line,
            column,
            message,
            ..
        }) => (line, column, message),
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

pub(super) fn one_alias(address_line: &str) -> String {
    format!("[[alias]]\ninterface = \"eth1\"\n{address_line}\n")
}

pub(super) fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!(
        "alias-mgr-config-{tag}-{}-{nanos}",
        std::process::id()
    ))
}
