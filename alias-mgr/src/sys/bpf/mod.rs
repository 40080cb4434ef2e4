//! The TC classifier and its state in bpffs: the only module that uses aya.
//!
//! Everything lives under the pin directory (default `/sys/fs/bpf/alias-mgr`):
//! - `COUNTERS`: the per-CPU hash of per-address counters (pinned by name by
//!   the loader, so every later load reuses it and no count restarts at 0);
//! - `links/ingress/IFACE`, `links/egress/IFACE`: the TCX links. A pinned TCX
//!   link keeps the program attached after the process exits; removing the pin
//!   (and the last fd) detaches it.

use std::{
    collections::BTreeMap,
    ffi::CString,
    fs, io,
    net::IpAddr,
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
};

use alias_ebpf::{
    AddrKey, TrafficCounters, COUNTERS_MAP, PROG_EGRESS_ETH, PROG_EGRESS_RAW, PROG_INGRESS_ETH,
    PROG_INGRESS_RAW,
};
use aya::{
    maps::{Map, MapData, MapError, PerCpuHashMap, PerCpuValues},
    programs::{
        links::{FdLink, PinnedLink},
        SchedClassifier, TcAttachType,
    },
    Ebpf, EbpfLoader,
};
use aya_log::EbpfLogger;

/// The classifier object, built by build.rs from the `alias-ebpf` crate.
static CLASSIFIER_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/alias-ebpf"));

const BPF_FS_MAGIC: i64 = 0xcafe4a11;
const BPFFS_ROOT: &str = "/sys/fs/bpf";
const BPF_NOEXIST: u64 = 1;

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
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
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
            BpfError::Io { what, source }
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

    fn counters_pin(&self) -> PathBuf {
        self.path.join(COUNTERS_MAP)
    }

    fn links_dir(&self) -> PathBuf {
        self.path.join("links")
    }

    /// bpffs refuses names with '.', which interface names may have (VLANs
    /// such as eth0.100); ':' is the one character an interface name cannot
    /// contain besides '/' and whitespace, so the mapping is reversible.
    fn link_pin(&self, iface: &str, hook: Hook) -> PathBuf {
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
            .err()
            .map(|err| err.to_string())
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
        // Check before creating anything, so a wrong --pin-dir leaves no trace.
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
        for hook in [Hook::Ingress, Hook::Egress] {
            let dir = self.links_dir().join(hook.suffix());
            fs::create_dir_all(&dir).map_err(io_error(format!(
                "creating pin directory {}",
                dir.display()
            )))?;
        }
        Ok(())
    }

    /// Loads the classifier object; its counters map is created and pinned on
    /// the first load and reused (with its counts) on every later one.
    fn load(&self) -> Result<Ebpf> {
        self.prepare()?;
        EbpfLoader::new()
            .default_map_pin_directory(&self.path)
            .load(CLASSIFIER_OBJECT)
            .map_err(|err| aya_error("loading the eBPF classifier", err))
    }

    /// Attaches the classifier to both TC hooks of `iface` with TCX and pins
    /// the links. Idempotent: existing links with the same program are kept.
    pub fn attach(&self, iface: &str, link_layer: LinkLayer) -> Result<AttachOutcome> {
        require_tcx()?;
        if nametoindex(iface).is_none() {
            return Err(BpfError::NoSuchInterface { name: iface.into() });
        }
        let mut ebpf = self.load()?;
        let mut outcome = AttachOutcome::Unchanged;
        for hook in [Hook::Ingress, Hook::Egress] {
            let program: &mut SchedClassifier = ebpf
                .program_mut(hook.program(link_layer))
                .expect("the object defines every hook's program")
                .try_into()
                .map_err(|err| aya_error("classifier program type", err))?;
            program
                .load()
                .map_err(|err| aya_error("loading the classifier into the kernel", err))?;
            let new_tag = program
                .info()
                .map_err(|err| aya_error("reading program info", err))?
                .tag();
            let pin = self.link_pin(iface, hook);
            let state = inspect_pin(iface, hook, &pin)?;
            if matches!(state, PinnedLinkState::Stale) {
                // Left from a deleted or renamed interface: it counts nothing.
                fs::remove_file(&pin)
                    .map_err(io_error(format!("removing stale pin {}", pin.display())))?;
            }
            match state {
                PinnedLinkState::Current { tag, .. } if tag == new_tag => {}
                PinnedLinkState::Current { link, .. } => {
                    // Another build of the program: swap it into the same
                    // link, atomically, so no packet goes uncounted. The pin
                    // keeps referring to that link.
                    let link = link
                        .try_into()
                        .map_err(|err| aya_error("reusing the pinned TCX link", err))?;
                    let id = program.attach_to_link(link).map_err(|err| {
                        aya_error(format!("replacing the program on {iface} {hook:?}"), err)
                    })?;
                    // Closing our fd leaves the pinned link attached.
                    drop(
                        program
                            .take_link(id)
                            .map_err(|err| aya_error("taking the TCX link", err))?,
                    );
                    outcome = AttachOutcome::Upgraded;
                }
                PinnedLinkState::Missing | PinnedLinkState::Stale => {
                    let id = program.attach(iface, hook.attach_type()).map_err(|err| {
                        aya_error(format!("attaching to {iface} {hook:?} with TCX"), err)
                    })?;
                    let link: FdLink = program
                        .take_link(id)
                        .map_err(|err| aya_error("taking the TCX link", err))?
                        .try_into()
                        .map_err(|err| aya_error("TCX link as an fd link", err))?;
                    link.pin(&pin)
                        .map_err(|err| aya_error(format!("pinning {}", pin.display()), err))?;
                    outcome = AttachOutcome::Attached;
                }
            }
        }
        Ok(outcome)
    }

    /// Whether the classifier is attached to both hooks of `iface` through the
    /// links pinned here (a pin left from a deleted interface does not count).
    pub fn is_attached(&self, iface: &str) -> Result<bool> {
        if nametoindex(iface).is_none() {
            return Ok(false);
        }
        for hook in [Hook::Ingress, Hook::Egress] {
            let pin = self.link_pin(iface, hook);
            if !matches!(
                inspect_pin(iface, hook, &pin)?,
                PinnedLinkState::Current { .. }
            ) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Detaches the classifier from `iface` by removing its link pins.
    /// Returns whether anything was attached.
    pub fn detach(&self, iface: &str) -> Result<bool> {
        let mut removed = false;
        for hook in [Hook::Ingress, Hook::Egress] {
            let pin = self.link_pin(iface, hook);
            if !pin.exists() {
                continue;
            }
            detach_pinned_link(&pin).map_err(io_error(format!("detaching {}", pin.display())))?;
            removed = true;
        }
        Ok(removed)
    }

    /// Interfaces with pinned links (both hooks or one), by name.
    pub fn attached_interfaces(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for hook in [Hook::Ingress, Hook::Egress] {
            let dir = self.links_dir().join(hook.suffix());
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(io_error(format!("reading {}", dir.display()))(err)),
            };
            names.extend(
                entries
                    .filter_map(|entry| entry.ok())
                    .map(|entry| entry.file_name().to_string_lossy().replace(':', ".")),
            );
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The counters map, creating it (by loading the object) when absent.
    pub fn counters(&self) -> Result<Counters> {
        if let Some(counters) = self.existing_counters()? {
            return Ok(counters);
        }
        let mut ebpf = self.load()?;
        let map = ebpf
            .take_map(COUNTERS_MAP)
            .expect("the object defines the counters map");
        Counters::from_map(map)
    }

    /// The counters map if one is pinned, without creating anything.
    pub fn existing_counters(&self) -> Result<Option<Counters>> {
        let pin = self.counters_pin();
        if !pin.exists() {
            return Ok(None);
        }
        let data = MapData::from_pin(&pin)
            .map_err(|err| aya_error(format!("opening pinned map {}", pin.display()), err))?;
        Counters::from_map(Map::PerCpuHashMap(data)).map(Some)
    }
}

enum PinnedLinkState {
    Missing,
    /// Pinned, but its program is not attached to this interface's hook.
    Stale,
    Current {
        tag: u64,
        link: FdLink,
    },
}

/// The warnings one loaded classifier instance logs with aya-log, read from
/// its `AYA_LOGS` ring (the ingress and egress programs attached to one
/// interface come from one load and share it).
pub struct ClassifierLog<T: log::Log> {
    logger: EbpfLogger<T>,
}

impl<T: log::Log> ClassifierLog<T> {
    /// Starts reading the ring of the instance `program_id` belongs to;
    /// records already waiting there are read too.
    pub fn follow(program_id: u32, logger: T) -> Result<Self> {
        let logger = EbpfLogger::init_from_id_with_logger(program_id, logger).map_err(|err| {
            aya_error(format!("opening the log ring of program {program_id}"), err)
        })?;
        Ok(Self { logger })
    }

    /// Hands every waiting record to the logger. A record the reader cannot
    /// decode panics inside aya-log; that is contained here, so a bad record
    /// costs its own text and never the daemon.
    pub fn drain(&mut self) -> Result<(), String> {
        let logger = &mut self.logger;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| logger.flush()))
            .map_err(|_| "an undecodable classifier log record was skipped".to_string())
    }
}

impl PinDir {
    /// The ids of the programs behind `iface`'s pinned links (ingress,
    /// egress; one load or two, e.g. after one hook was re-attached).
    pub fn program_ids(&self, iface: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        for hook in [Hook::Ingress, Hook::Egress] {
            if let Some((_, id)) = open_pinned_link(&self.link_pin(iface, hook))? {
                ids.push(id);
            }
        }
        Ok(ids)
    }
}

/// The link pinned at `pin` and the id of its program; None if no pin.
fn open_pinned_link(pin: &Path) -> Result<Option<(FdLink, u32)>> {
    let pinned = match PinnedLink::from_pin(pin) {
        Ok(pinned) => pinned,
        Err(_) if !pin.exists() => return Ok(None),
        Err(err) => {
            return Err(aya_error(
                format!("opening pinned link {}", pin.display()),
                err,
            ))
        }
    };
    let link = FdLink::from(pinned);
    let prog_id = link
        .info()
        .map_err(|err| aya_error("reading link info", err))?
        .program_id();
    Ok(Some((link, prog_id)))
}

/// The id of the aya-log ring of the loaded program `program_id`: programs
/// of one load share it. None for a program without one (built before the
/// classifier logged) or no longer loaded.
pub fn log_ring_id(program_id: u32) -> Option<u32> {
    let program = aya::programs::loaded_programs()
        .filter_map(std::result::Result::ok)
        .find(|info| info.id() == program_id)?;
    program
        .map_ids()
        .ok()??
        .into_iter()
        .filter_map(|id| aya::maps::MapInfo::from_id(id).ok())
        .find(|map| map.name_as_str() == Some("AYA_LOGS"))
        .map(|map| map.id())
}

/// What the pin for one hook of `iface` holds; changes nothing.
fn inspect_pin(iface: &str, hook: Hook, pin: &Path) -> Result<PinnedLinkState> {
    let Some((link, prog_id)) = open_pinned_link(pin)? else {
        return Ok(PinnedLinkState::Missing);
    };
    let (_, attached) = SchedClassifier::query_tcx(iface, hook.attach_type())
        .map_err(|err| aya_error(format!("querying TCX programs on {iface}"), err))?;
    Ok(match attached.iter().find(|info| info.id() == prog_id) {
        Some(info) => PinnedLinkState::Current {
            tag: info.tag(),
            link,
        },
        None => PinnedLinkState::Stale,
    })
}

/// The link layer of an interface decides which program variant parses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkLayer {
    /// Frames start with an Ethernet header (Ethernet, veth, bridge, bond, VLAN...).
    Ethernet,
    /// Packets start with the IP header (tun, wireguard, ipip...).
    RawIp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hook {
    Ingress,
    Egress,
}

impl Hook {
    fn suffix(self) -> &'static str {
        match self {
            Hook::Ingress => "ingress",
            Hook::Egress => "egress",
        }
    }

    fn attach_type(self) -> TcAttachType {
        match self {
            Hook::Ingress => TcAttachType::Ingress,
            Hook::Egress => TcAttachType::Egress,
        }
    }

    fn program(self, link_layer: LinkLayer) -> &'static str {
        match (self, link_layer) {
            (Hook::Ingress, LinkLayer::Ethernet) => PROG_INGRESS_ETH,
            (Hook::Egress, LinkLayer::Ethernet) => PROG_EGRESS_ETH,
            (Hook::Ingress, LinkLayer::RawIp) => PROG_INGRESS_RAW,
            (Hook::Egress, LinkLayer::RawIp) => PROG_EGRESS_RAW,
        }
    }
}

/// The per-address counters map.
pub struct Counters {
    map: PerCpuHashMap<MapData, AddrKey, TrafficCounters>,
}

impl Counters {
    fn from_map(map: Map) -> Result<Self> {
        let map =
            PerCpuHashMap::try_from(map).map_err(|err| aya_error("counters map type", err))?;
        Ok(Self { map })
    }

    /// Starts counting `ip` (from zero unless it is already tracked).
    /// Returns whether it was newly added.
    pub fn track(&mut self, ip: IpAddr) -> Result<bool> {
        let cpus = aya::util::nr_cpus().map_err(|(what, err)| io_error(what)(err))?;
        let zeros =
            PerCpuValues::try_from(vec![TrafficCounters::default(); cpus]).map_err(|err| {
                BpfError::Io {
                    what: "per-CPU values".into(),
                    source: err,
                }
            })?;
        match self.map.insert(AddrKey::from(ip), zeros, BPF_NOEXIST) {
            Ok(()) => Ok(true),
            Err(MapError::SyscallError(err))
                if err.io_error.raw_os_error() == Some(libc::EEXIST) =>
            {
                Ok(false)
            }
            Err(MapError::SyscallError(err))
                if err.io_error.raw_os_error() == Some(libc::E2BIG) =>
            {
                Err(BpfError::Aya {
                    what: format!("tracking {ip}"),
                    detail: format!(
                        "the counters map is full ({} addresses); untrack some first",
                        alias_ebpf::MAX_TRACKED_ADDRESSES
                    ),
                })
            }
            Err(err) => Err(aya_error(format!("tracking {ip}"), err)),
        }
    }

    /// Stops counting `ip` and forgets its counts. Returns whether it was tracked.
    pub fn untrack(&mut self, ip: IpAddr) -> Result<bool> {
        match self.map.remove(&AddrKey::from(ip)) {
            Ok(()) => Ok(true),
            Err(MapError::KeyNotFound | MapError::ElementNotFound) => Ok(false),
            Err(MapError::SyscallError(err))
                if err.io_error.raw_os_error() == Some(libc::ENOENT) =>
            {
                Ok(false)
            }
            Err(err) => Err(aya_error(format!("untracking {ip}"), err)),
        }
    }

    /// Every tracked address with its counts summed over all CPUs.
    pub fn read_all(&self) -> Result<BTreeMap<IpAddr, TrafficCounters>> {
        let mut all = BTreeMap::new();
        for entry in self.map.iter() {
            let (key, per_cpu) = entry.map_err(|err| aya_error("reading the counters map", err))?;
            let mut total = TrafficCounters::default();
            for share in per_cpu.iter() {
                total.accumulate(share);
            }
            all.insert(key.ip(), total);
        }
        Ok(all)
    }
}

const BPF_OBJ_GET: libc::c_long = 7;
const BPF_LINK_DETACH: libc::c_long = 34;

/// Detaches a pinned link now and removes its pin. Only unlinking the pin
/// would free the link after an RCU grace period and a work item, so a few
/// more packets could be counted after `detach` returned; BPF_LINK_DETACH
/// cuts it off synchronously.
fn detach_pinned_link(pin: &Path) -> io::Result<()> {
    let path = CString::new(pin.as_os_str().as_bytes())?;
    // union bpf_attr, obj_get: { u64 pathname; u32 bpf_fd; u32 file_flags; ... }
    let mut attr = [0u64; 16];
    attr[0] = path.as_ptr() as u64;
    // SAFETY: attr is a zeroed bpf_attr large enough for the command; the
    // path outlives the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_OBJ_GET,
            attr.as_mut_ptr(),
            size_of_val(&attr),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // union bpf_attr, link_detach: { u32 link_fd; }
    let mut attr = [0u64; 16];
    attr[0] = fd as u64;
    // SAFETY: as above; the fd is ours and closed right after.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_LINK_DETACH,
            attr.as_mut_ptr(),
            size_of_val(&attr),
        )
    };
    let detach_error = (rc < 0).then(io::Error::last_os_error);
    // SAFETY: closing the fd BPF_OBJ_GET returned.
    unsafe { libc::close(fd as libc::c_int) };
    match detach_error {
        // ENOLINK: the interface went away; the link is already detached.
        Some(err) if err.raw_os_error() != Some(libc::ENOLINK) => return Err(err),
        _ => {}
    }
    fs::remove_file(pin)
}

fn require_tcx() -> Result<()> {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = release.trim().to_string();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) < (6, 6) {
        return Err(BpfError::NoTcx { release });
    }
    Ok(())
}

fn nametoindex(iface: &str) -> Option<u32> {
    let name = CString::new(iface).ok()?;
    // SAFETY: a valid NUL-terminated string; the call only reads it.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

fn is_bpffs(path: &Path) -> bool {
    let Ok(cpath) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statfs fills the zeroed struct; the path is NUL-terminated.
    unsafe {
        let mut stat: libc::statfs = std::mem::zeroed();
        libc::statfs(cpath.as_ptr(), &mut stat) == 0 && stat.f_type as i64 == BPF_FS_MAGIC
    }
}

/// Whether this process's mount namespace is the one its ancestors live in
/// (the init namespace, or a container's own). `ip netns exec` and
/// `unshare -m` give a command a namespace of its own that dies with it, so a
/// mount made there is lost. Ancestors that cannot be read (outside a PID
/// namespace, or hidden) are skipped, which keeps the plain behaviour:
/// mount and go on.
fn mount_namespace_is_shared_with_ancestors() -> bool {
    use std::os::unix::fs::MetadataExt;
    let namespace = |pid: &str| {
        fs::metadata(format!("/proc/{pid}/ns/mnt"))
            .ok()
            .map(|m| (m.dev(), m.ino()))
    };
    let Some(own) = namespace("self") else {
        return true;
    };
    // PID 1's namespace lives as long as the system (or the container).
    if namespace("1") == Some(own) {
        return true;
    }
    let parent_of = |pid: u32| -> Option<u32> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "pid (comm) state ppid ...": comm may contain spaces and ')'.
        let rest = &stat[stat.rfind(')')? + 1..];
        rest.split_whitespace().nth(1)?.parse().ok()
    };
    // SAFETY: getppid cannot fail.
    let mut pid = unsafe { libc::getppid() } as u32;
    // Bounded: a PID chain ends at 1 or at the edge of a PID namespace (0).
    for _ in 0..64 {
        if pid == 0 {
            break;
        }
        if namespace(&pid.to_string()).is_some_and(|theirs| theirs != own) {
            return false;
        }
        if pid == 1 {
            break;
        }
        match parent_of(pid) {
            Some(parent) => pid = parent,
            None => break,
        }
    }
    true
}

fn mount_bpffs(target: &Path) -> io::Result<()> {
    let target = CString::new(target.as_os_str().as_bytes())?;
    let fstype = CString::new("bpf").expect("no NUL");
    // SAFETY: all pointers are valid NUL-terminated strings.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
