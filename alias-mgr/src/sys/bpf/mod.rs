//! The TC classifier and its state in bpffs: the only module that uses aya.
//!
//! Everything lives under the pin directory (default `/sys/fs/bpf/alias-mgr`):
//! - `ADDR_INDEX`, `ADDR_KEYS`, `ADDR_COUNTERS`: the counters table (see
//!   `alias_ebpf::INDEX_MAP`), pinned by name by the loader, so every later
//!   load reuses it and no count restarts at 0;
//! - `links/ingress/IFACE`, `links/egress/IFACE`: the TCX links. A pinned TCX
//!   link keeps the program attached after the process exits; removing the pin
//!   (and the last fd) detaches it.
//!
//! Files: `pin_dir` (the directory handle, preparing it, loading the object),
//! `counters` (the counters table), `table` (its index, pure), `links` (TCX attach, detach and inspection),
//! `classifier_log` (the classifier's aya-log ring), `bpffs` (filesystem,
//! mount namespace and kernel version checks) and `syscall` (the raw
//! syscalls aya does not wrap). This module keeps the errors and the shared
//! small types. It uses aya, aya-log, libc and the `alias-ebpf` crate's
//! shared layout, and nothing else of alias-mgr.

mod bpffs;
mod classifier_log;
mod counters;
mod links;
mod pin_dir;
mod syscall;
mod table;

use std::{io, path::PathBuf};

pub use classifier_log::{last_warning_ns, log_ring_id, ClassifierLog};
pub use counters::Counters;
pub use links::LinkLayer;
pub use pin_dir::PinDir;

#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    /// The caller lacks the capabilities the bpf() syscall needs.
    #[error("{what}: permission denied; run alias-mgr as root (it needs CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN)")]
    NotPermitted { what: String },
    /// TCX attachment needs Linux 6.6 or newer.
    #[error("kernel {release} has no TCX (needs Linux >= 6.6); per-address counters cannot be attached on this kernel")]
    NoTcx { release: String },
    /// The pin directory is not on a BPF filesystem and one could not be mounted.
    #[error("{path} is not on a BPF filesystem: {detail}; mount one with `mount -t bpf bpf /sys/fs/bpf` or pass --pin-dir on a bpffs mount")]
    NoBpffs { path: PathBuf, detail: String },
    /// bpffs would have to be mounted in a mount namespace that dies with
    /// this process (`ip netns exec` remounts /sys): pins there vanish.
    #[error("{path} is not on a BPF filesystem in this mount namespace, and one mounted here would vanish when alias-mgr exits (`ip netns exec` gives every command a fresh /sys), taking the counters with it; run alias-mgr as `nsenter --net=/run/netns/NAME alias-mgr ...` instead of `ip netns exec`, or pass --pin-dir on a bpffs mounted outside /sys (e.g. `mount -t bpf bpf /run/alias-mgr-bpf` in the host's namespace)")]
    EphemeralBpffs { path: PathBuf },
    /// The interface does not exist in this network namespace.
    #[error("interface {name} does not exist; check the name with `ip link`")]
    NoSuchInterface { name: String },
    /// The OS error is part of the message, not a source, so `{:#}` shows
    /// it once.
    #[error("{what}: {error}")]
    Io { what: String, error: io::Error },
    #[error("{what}: {detail}")]
    Aya { what: String, detail: String },
}

type Result<T, E = BpfError> = std::result::Result<T, E>;

/// Turns an aya error into ours, spotting EPERM so the fix can be named.
fn aya_error(what: impl Into<String>, err: impl std::error::Error) -> BpfError {
    let what = what.into();
    let mut detail = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<io::Error>() {
            if io.raw_os_error() == Some(libc::EPERM) {
                return BpfError::NotPermitted { what };
            }
        }
        detail.push_str(": ");
        detail.push_str(&inner.to_string());
        source = inner.source();
    }
    BpfError::Aya { what, detail }
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> BpfError {
    let what = what.into();
    move |source| {
        if source.raw_os_error() == Some(libc::EPERM)
            || source.kind() == io::ErrorKind::PermissionDenied
        {
            BpfError::NotPermitted { what }
        } else {
            BpfError::Io {
                what,
                error: source,
            }
        }
    }
}

/// What `attach` found and did on one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachOutcome {
    /// Both hooks were already attached with this program: nothing changed.
    Unchanged,
    /// New TCX links were created and pinned.
    Attached,
    /// Pinned links existed with another program version and were swapped
    /// atomically (no packet went uncounted).
    Upgraded,
}
