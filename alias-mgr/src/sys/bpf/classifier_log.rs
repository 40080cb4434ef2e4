//! The classifier's log: the warnings its programs write to their aya-log
//! ring, and finding that ring from a program id.

use aya_log::EbpfLogger;

use super::{aya_error, links::open_pinned_link, links::Hook, PinDir, Result};

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

/// The id of the aya-log ring of the loaded program `program_id`: programs
/// of one load share it. None for a program without one (built before the
/// classifier logged) or no longer loaded.
pub fn log_ring_id(program_id: u32) -> Option<u32> {
    map_of_program(program_id, "AYA_LOGS").map(|map| map.id())
}

/// When the instance `program_id` belongs to last logged a warning, in ns
/// of CLOCK_MONOTONIC (bpf_ktime_get_ns), the latest over the CPUs: read
/// from its `LAST_WARNING` rate limiter, so reading takes nothing from the
/// log ring the daemon follows. None: it never warned, or it has no such
/// map (built before it had one), or it is no longer loaded.
pub fn last_warning_ns(program_id: u32) -> Option<u64> {
    let info = map_of_program(program_id, "LAST_WARNING")?;
    let data = aya::maps::MapData::from_id(info.id()).ok()?;
    let map = aya::maps::Map::from_map_data(data).ok()?;
    let slots = aya::maps::PerCpuArray::<_, u64>::try_from(map).ok()?;
    let latest = slots.get(&0, 0).ok()?.iter().copied().max()?;
    (latest > 0).then_some(latest)
}

/// The map called `name` of the loaded program `program_id`.
fn map_of_program(program_id: u32, name: &str) -> Option<aya::maps::MapInfo> {
    let program = aya::programs::loaded_programs()
        .filter_map(std::result::Result::ok)
        .find(|info| info.id() == program_id)?;
    program
        .map_ids()
        .ok()??
        .into_iter()
        .filter_map(|id| aya::maps::MapInfo::from_id(id).ok())
        .find(|map| map.name_as_str() == Some(name))
}
