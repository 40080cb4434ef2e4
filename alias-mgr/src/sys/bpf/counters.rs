//! The per-address counters map the classifier updates and the CLI, the
//! daemon and the metrics read.

use std::{
    collections::BTreeMap,
    net::IpAddr,
    os::fd::{AsFd, OwnedFd},
};

use alias_ebpf::{AddrKey, TrafficCounters, COUNTERS_MAP};
use aya::maps::{Map, MapData, MapError, PerCpuHashMap, PerCpuValues};

use super::{aya_error, io_error, syscall::for_each_counter, BpfError, PinDir, Result};

/// BPF_NOEXIST: insert only if the key is absent.
const BPF_NOEXIST: u64 = 1;
/// ENOTSUPP, the kernel's own "not supported", as bpf(2) returns it.
const NOT_SUPPORTED: i32 = 524;

fn possible_cpus() -> Result<usize> {
    aya::util::nr_cpus().map_err(|(what, err)| io_error(what)(err))
}

impl PinDir {
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

/// The per-address counters map.
pub struct Counters {
    map: PerCpuHashMap<MapData, AddrKey, TrafficCounters>,
    /// The map's fd again, for the batch reads aya has no call for.
    fd: OwnedFd,
    /// Possible CPUs (a new key gets a zero for each), read once: a batch
    /// of tracks shares it.
    cpus: Option<usize>,
}

impl Counters {
    fn from_map(map: Map) -> Result<Self> {
        let fd = match &map {
            Map::PerCpuHashMap(data) => data.fd().as_fd().try_clone_to_owned(),
            _ => {
                return Err(aya_error(
                    "counters map type",
                    MapError::InvalidMapType { map_type: 0 },
                ))
            }
        }
        .map_err(io_error("duplicating the counters map's fd"))?;
        let map =
            PerCpuHashMap::try_from(map).map_err(|err| aya_error("counters map type", err))?;
        Ok(Self {
            map,
            fd,
            cpus: None,
        })
    }

    fn cpus(&mut self) -> Result<usize> {
        match self.cpus {
            Some(cpus) => Ok(cpus),
            None => Ok(*self.cpus.insert(possible_cpus()?)),
        }
    }

    /// Starts counting `ip` (from zero unless it is already tracked).
    /// Returns whether it was newly added.
    pub fn track(&mut self, ip: IpAddr) -> Result<bool> {
        let cpus = self.cpus()?;
        let zeros =
            PerCpuValues::try_from(vec![TrafficCounters::default(); cpus]).map_err(|err| {
                BpfError::Io {
                    what: "per-CPU values".into(),
                    error: err,
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
        let cpus = match self.cpus {
            Some(cpus) => cpus,
            None => possible_cpus()?,
        };
        let mut all = BTreeMap::new();
        let batched = for_each_counter(self.fd.as_fd(), cpus, |key, per_cpu| {
            let mut total = TrafficCounters::default();
            for share in per_cpu {
                total.accumulate(share);
            }
            all.insert(key.ip(), total);
        });
        match batched {
            Ok(()) => return Ok(all),
            // A kernel without batch reads for this map: key by key.
            Err(err) if matches!(err.raw_os_error(), Some(libc::EINVAL | NOT_SUPPORTED)) => {
                all.clear();
            }
            Err(err) => return Err(io_error("reading the counters map")(err)),
        }
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
