//! The pin directory: its paths, whether it can hold pins that outlive this
//! process, preparing it (mounting bpffs if needed) and loading the object.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use alias_ebpf::{COUNTERS_MAP, INDEX_MAP, KEYS_MAP, LEGACY_COUNTERS_MAP};
use aya::{Ebpf, EbpfLoader};

use super::{
    aya_error,
    bpffs::{is_bpffs, mount_bpffs, mount_namespace_is_shared_with_ancestors, require_tcx},
    counters::carry_over_legacy,
    io_error,
    links::Hook,
    BpfError, Result,
};

/// The classifier object, built by build.rs from the `alias-ebpf` crate.
static CLASSIFIER_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/alias-ebpf"));

const BPFFS_ROOT: &str = "/sys/fs/bpf";

/// The pinned state under one pin directory.
#[derive(Debug, Clone)]
pub struct PinDir {
    path: PathBuf,
}

impl PinDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn index_pin(&self) -> PathBuf {
        self.path.join(INDEX_MAP)
    }

    pub(super) fn keys_pin(&self) -> PathBuf {
        self.path.join(KEYS_MAP)
    }

    pub(super) fn counters_pin(&self) -> PathBuf {
        self.path.join(COUNTERS_MAP)
    }

    pub(super) fn legacy_counters_pin(&self) -> PathBuf {
        self.path.join(LEGACY_COUNTERS_MAP)
    }

    /// The pinned maps, in the order they are removed.
    fn map_pins(&self) -> [PathBuf; 4] {
        [
            self.index_pin(),
            self.keys_pin(),
            self.counters_pin(),
            self.legacy_counters_pin(),
        ]
    }

    pub(super) fn links_dir(&self) -> PathBuf {
        self.path.join("links")
    }

    /// bpffs refuses names with '.', which interface names may have (VLANs
    /// such as eth0.100); ':' is the one character an interface name cannot
    /// contain besides '/' and whitespace, so the mapping is reversible.
    pub(super) fn link_pin(&self, iface: &str, hook: Hook) -> PathBuf {
        self.links_dir()
            .join(hook.suffix())
            .join(iface.replace('.', ":"))
    }

    /// Why the classifier cannot run here, if it cannot: no TCX, or pins
    /// that could only live in a mount namespace dying with this process.
    /// A missing bpffs that can be mounted for good is not such a reason.
    pub fn unavailable_reason(&self) -> Option<String> {
        require_tcx()
            .and_then(|()| self.check_pins_outlive_process())
            .and_then(|()| self.check_on_bpffs())
            .err()
            .map(|err| err.to_string())
    }

    /// The pin directory must be on a bpffs: where it is not, and it is not
    /// under /sys/fs/bpf (which `prepare` mounts), nothing can be pinned.
    /// Checked before anything is created, so a wrong --pin-dir leaves no
    /// trace.
    fn check_on_bpffs(&self) -> Result<()> {
        if self.needs_bpffs_mount() {
            return Ok(());
        }
        let existing = self
            .path
            .ancestors()
            .find(|p| p.exists())
            .unwrap_or(Path::new("/"));
        if !is_bpffs(existing) {
            return Err(BpfError::NoBpffs {
                path: self.path.clone(),
                detail: format!("{} is not a bpf filesystem", existing.display()),
            });
        }
        Ok(())
    }

    /// True when bpffs has to be mounted on /sys/fs/bpf for this pin dir.
    fn needs_bpffs_mount(&self) -> bool {
        let bpffs_root = Path::new(BPFFS_ROOT);
        self.path.starts_with(bpffs_root) && !is_bpffs(bpffs_root)
    }

    /// Mounting bpffs is only worth it where the mount outlives us: in the
    /// namespace our ancestors share, not in the throwaway one `ip netns
    /// exec` or `unshare -m` gives a command.
    fn check_pins_outlive_process(&self) -> Result<()> {
        if self.needs_bpffs_mount() && !mount_namespace_is_shared_with_ancestors() {
            return Err(BpfError::EphemeralBpffs {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    /// Makes sure the pin directory exists on a bpffs, mounting bpffs on
    /// /sys/fs/bpf when nothing is mounted there yet.
    pub fn prepare(&self) -> Result<()> {
        self.check_pins_outlive_process()?;
        if self.needs_bpffs_mount() {
            let bpffs_root = Path::new(BPFFS_ROOT);
            mount_bpffs(bpffs_root).map_err(|err| BpfError::NoBpffs {
                path: self.path.clone(),
                detail: format!("mounting bpffs on /sys/fs/bpf failed: {err}"),
            })?;
        }
        self.check_on_bpffs()?;
        for hook in [Hook::Ingress, Hook::Egress] {
            let dir = self.links_dir().join(hook.suffix());
            fs::create_dir_all(&dir).map_err(io_error(format!(
                "creating pin directory {}",
                dir.display()
            )))?;
        }
        Ok(())
    }

    /// Loads the classifier object; its counters table is created and
    /// pinned on the first load and reused (with its counts) on every later
    /// one. The first load after an upgrade from the hash map of counters
    /// carries its counts over.
    pub(super) fn load(&self) -> Result<Ebpf> {
        self.prepare()?;
        let ebpf = EbpfLoader::new()
            .default_map_pin_directory(&self.path)
            .load(CLASSIFIER_OBJECT)
            .map_err(|err| aya_error("loading the eBPF classifier", err))?;
        let legacy = self.legacy_counters_pin();
        if legacy.exists() {
            if let Some(mut counters) = self.existing_counters()? {
                carry_over_legacy(&mut counters, &legacy)?;
            }
        }
        Ok(ebpf)
    }

    /// Removes every pin alias-mgr made: the links (detaching the
    /// classifier), the counters map, then the directories. A file it did
    /// not make stops it (the directory is then not empty), so nothing
    /// else is ever deleted.
    pub fn remove_all(&self) -> Result<()> {
        if !self.path.exists() {
            return Ok(());
        }
        for iface in self.attached_interfaces()? {
            self.detach(&iface)?;
        }
        let hook_dirs =
            [Hook::Ingress, Hook::Egress].map(|hook| self.links_dir().join(hook.suffix()));
        let ours = self
            .map_pins()
            .into_iter()
            .chain(hook_dirs)
            .chain([self.links_dir(), self.path.clone()]);
        for path in ours {
            let removed = if path.is_dir() {
                fs::remove_dir(&path)
            } else {
                fs::remove_file(&path)
            };
            match removed {
                Err(err) if err.kind() != io::ErrorKind::NotFound => {
                    return Err(io_error(format!("removing {}", path.display()))(err))
                }
                _ => {}
            }
        }
        Ok(())
    }
}
