//! The TCX links: attaching the classifier to an interface's two hooks,
//! detaching it, and reading what a pinned link holds.

use std::{fs, io, path::Path};

use alias_ebpf::{PROG_EGRESS_ETH, PROG_EGRESS_RAW, PROG_INGRESS_ETH, PROG_INGRESS_RAW};
use aya::{
    maps::MapData,
    programs::{
        links::{FdLink, PinnedLink},
        SchedClassifier, TcAttachType,
    },
    Ebpf,
};

use super::{
    aya_error,
    bpffs::require_tcx,
    io_error,
    syscall::{detach_pinned_link, nametoindex},
    AttachOutcome, BpfError, PinDir, Result,
};

impl PinDir {
    /// Attaches the classifier to both TC hooks of `iface` with TCX and pins
    /// the links. Idempotent: existing links with the same program are kept.
    pub fn attach(&self, iface: &str, link_layer: LinkLayer) -> Result<AttachOutcome> {
        require_tcx()?;
        if nametoindex(iface).is_none() {
            return Err(BpfError::NoSuchInterface { name: iface.into() });
        }
        let mut ebpf = self.load()?;
        let table_id = self.table_id()?;
        // Both programs through the verifier first, so the two hooks go
        // live moments apart: between them only one direction counts.
        for hook in [Hook::Ingress, Hook::Egress] {
            classifier(&mut ebpf, hook, link_layer)?
                .load()
                .map_err(|err| aya_error("loading the classifier into the kernel", err))?;
        }
        let mut outcome = AttachOutcome::Unchanged;
        for hook in [Hook::Ingress, Hook::Egress] {
            let program = classifier(&mut ebpf, hook, link_layer)?;
            let new_tag = program
                .info()
                .map_err(|err| aya_error("reading program info", err))?
                .tag();
            let pin = self.link_pin(iface, hook);
            let state = inspect_pin(iface, hook, &pin, table_id)?;
            if matches!(state, PinnedLinkState::Stale) {
                // Left from a deleted or renamed interface: it counts nothing.
                fs::remove_file(&pin)
                    .map_err(io_error(format!("removing stale pin {}", pin.display())))?;
            }
            match state {
                PinnedLinkState::Current {
                    tag,
                    uses_table: true,
                    ..
                } if tag == new_tag => {}
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
    /// links pinned here, counting into the table pinned here (a pin left
    /// from a deleted interface does not count, nor a program of a release
    /// that counted elsewhere).
    pub fn is_attached(&self, iface: &str) -> Result<bool> {
        if nametoindex(iface).is_none() {
            return Ok(false);
        }
        let table_id = self.table_id()?;
        for hook in [Hook::Ingress, Hook::Egress] {
            let pin = self.link_pin(iface, hook);
            if !matches!(
                inspect_pin(iface, hook, &pin, table_id)?,
                PinnedLinkState::Current {
                    uses_table: true,
                    ..
                }
            ) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The kernel's id of the pinned index map, if there is one.
    fn table_id(&self) -> Result<Option<u32>> {
        let pin = self.index_pin();
        if !pin.exists() {
            return Ok(None);
        }
        let what = || format!("opening pinned map {}", pin.display());
        let data = MapData::from_pin(&pin).map_err(|err| aya_error(what(), err))?;
        let info = data.info().map_err(|err| aya_error(what(), err))?;
        Ok(Some(info.id()))
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

    /// Where the links pinned for `pinned` (an interface name that no
    /// longer exists) are attached now, among `candidates`: the interface
    /// was renamed, and its TCX links went with it, still counting.
    pub fn links_moved_to(&self, pinned: &str, candidates: &[&str]) -> Result<Option<String>> {
        let pin = self.link_pin(pinned, Hook::Ingress);
        let Some((_, prog_id)) = open_pinned_link(&pin)? else {
            return Ok(None);
        };
        for name in candidates {
            let Ok((_, attached)) = SchedClassifier::query_tcx(name, TcAttachType::Ingress) else {
                continue; // gone meanwhile, or no TCX there
            };
            if attached.iter().any(|info| info.id() == prog_id) {
                return Ok(Some(name.to_string()));
            }
        }
        Ok(None)
    }

    /// Renames the link pins of `from` to `to` (the interface was renamed):
    /// the links stay attached, nothing goes uncounted.
    pub fn move_links(&self, from: &str, to: &str) -> Result<()> {
        for hook in [Hook::Ingress, Hook::Egress] {
            let (old, new) = (self.link_pin(from, hook), self.link_pin(to, hook));
            if !old.exists() {
                continue;
            }
            fs::rename(&old, &new).map_err(io_error(format!(
                "renaming pin {} to {}",
                old.display(),
                new.display()
            )))?;
        }
        Ok(())
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
}

/// The program of `hook` for `link_layer` in the loaded object.
fn classifier(ebpf: &mut Ebpf, hook: Hook, link_layer: LinkLayer) -> Result<&mut SchedClassifier> {
    ebpf.program_mut(hook.program(link_layer))
        .expect("the object defines every hook's program")
        .try_into()
        .map_err(|err| aya_error("classifier program type", err))
}

enum PinnedLinkState {
    Missing,
    /// Pinned, but its program is not attached to this interface's hook.
    Stale,
    Current {
        tag: u64,
        link: FdLink,
        /// Whether the program counts into the table pinned here.
        uses_table: bool,
    },
}

/// The link pinned at `pin` and the id of its program; None if no pin.
pub(super) fn open_pinned_link(pin: &Path) -> Result<Option<(FdLink, u32)>> {
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

/// What the pin for one hook of `iface` holds; changes nothing. `table_id`
/// is the pinned index map's id.
fn inspect_pin(
    iface: &str,
    hook: Hook,
    pin: &Path,
    table_id: Option<u32>,
) -> Result<PinnedLinkState> {
    let Some((link, prog_id)) = open_pinned_link(pin)? else {
        return Ok(PinnedLinkState::Missing);
    };
    let (_, attached) = SchedClassifier::query_tcx(iface, hook.attach_type())
        .map_err(|err| aya_error(format!("querying TCX programs on {iface}"), err))?;
    Ok(match attached.iter().find(|info| info.id() == prog_id) {
        Some(info) => {
            let map_ids = info
                .map_ids()
                .map_err(|err| aya_error("reading program info", err))?
                .unwrap_or_default();
            PinnedLinkState::Current {
                tag: info.tag(),
                link,
                uses_table: table_id.is_some_and(|id| map_ids.contains(&id)),
            }
        }
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
pub(super) enum Hook {
    Ingress,
    Egress,
}

impl Hook {
    pub(super) fn suffix(self) -> &'static str {
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
