//! The outside systems, one module each: rtnetlink, nftables (`nft`), the
//! eBPF classifier and bpffs (aya), sysctls and inotify.
//!
//! Each is the only place that imports its crate or speaks its protocol. They
//! may use the core's types (what they read is returned as core model values)
//! and nothing above the core.
pub mod arp;
pub mod bpf;
pub mod inotify;
pub mod memory;
pub mod ndisc;
pub mod netlink;
pub mod nft;
pub mod sysctl;
