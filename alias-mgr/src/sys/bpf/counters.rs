//! The per-address counters table the classifier updates and the CLI, the
//! daemon and the metrics read: the index and keys mapped into memory
//! (`table`), and the per-CPU counts.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BTreeSet, BinaryHeap},
    fs::{self, File, TryLockError},
    net::IpAddr,
    os::fd::{AsFd, OwnedFd},
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

use alias_ebpf::{AddrKey, TrafficCounters, INDEX_SLOTS, MAX_PROBES, MAX_TRACKED_ADDRESSES};
use aya::maps::{MapData, MapType, PerCpuArray, PerCpuValues};

use super::{
    aya_error, io_error,
    syscall::{for_each_per_cpu, MappedWords},
    table::{Probe, Table},
    BpfError, PinDir, Result,
};

fn possible_cpus() -> Result<usize> {
    aya::util::nr_cpus().map_err(|(what, err)| io_error(what)(err))
}

impl PinDir {
    /// The counters table, creating it (by loading the object) when absent.
    pub fn counters(&self) -> Result<Counters> {
        if let Some(counters) = self.existing_counters()? {
            return Ok(counters);
        }
        drop(self.load()?);
        self.existing_counters()?.ok_or_else(|| BpfError::Aya {
            what: "creating the counters table".into(),
            detail: format!("loading left no {}", self.index_pin().display()),
        })
    }

    /// The counters table if one is pinned, without creating anything.
    pub fn existing_counters(&self) -> Result<Option<Counters>> {
        if !self.index_pin().exists() {
            return Ok(None);
        }
        let index = open_map(&self.index_pin(), MapType::Array, INDEX_SLOTS)?;
        let keys = open_map(&self.keys_pin(), MapType::Array, MAX_TRACKED_ADDRESSES)?;
        let values = open_map(
            &self.counters_pin(),
            MapType::PerCpuArray,
            MAX_TRACKED_ADDRESSES,
        )?;
        let map_words = |data: &MapData, words: u32, pin: &Path| {
            MappedWords::new(data.fd().as_fd(), words as usize)
                .map_err(io_error(format!("mapping {} into memory", pin.display())))
        };
        let index_words = map_words(&index, INDEX_SLOTS, &self.index_pin())?;
        let key_words = map_words(&keys, 2 * MAX_TRACKED_ADDRESSES, &self.keys_pin())?;
        let values_fd = values
            .fd()
            .as_fd()
            .try_clone_to_owned()
            .map_err(io_error("duplicating the counters map's fd"))?;
        let values = PerCpuArray::try_from(aya::maps::Map::PerCpuArray(values))
            .map_err(|err| aya_error("counters map type", err))?;
        Ok(Some(Counters {
            pin_dir: self.path().to_path_buf(),
            writer: None,
            index: index_words,
            keys: key_words,
            values,
            values_fd,
            cpus: None,
            free: None,
        }))
    }
}

/// Opens the map pinned at `pin`, checking it is the one this build makes.
fn open_map(pin: &Path, map_type: MapType, max_entries: u32) -> Result<MapData> {
    let what = || format!("opening pinned map {}", pin.display());
    let data = MapData::from_pin(pin).map_err(|err| aya_error(what(), err))?;
    let info = data.info().map_err(|err| aya_error(what(), err))?;
    let found = info.map_type().map_err(|err| aya_error(what(), err))?;
    if found != map_type || info.max_entries() != max_entries {
        return Err(BpfError::Aya {
            what: what(),
            detail: format!(
                "it is a {found:?} of {} entries, not the {map_type:?} of {max_entries} this \
                 alias-mgr uses (another program's, or a future release's); move it away or \
                 pass another --pin-dir",
                info.max_entries()
            ),
        });
    }
    Ok(data)
}

/// How long a write waits for another process writing the table.
const WRITER_WAIT: Duration = Duration::from_secs(10);

/// The per-address counters table.
pub struct Counters {
    pin_dir: PathBuf,
    /// An exclusive lock on the pin directory, taken on the first write
    /// and held to the end: two writers would pick the same free slot or
    /// counter number (the kernel's hash map did this for us).
    writer: Option<File>,
    index: MappedWords,
    keys: MappedWords,
    values: PerCpuArray<MapData, TrafficCounters>,
    /// The counts' fd again, for the batch reads aya has no call for.
    values_fd: OwnedFd,
    /// Possible CPUs, read once: a batch of tracks shares it.
    cpus: Option<usize>,
    /// Counter numbers no address uses, lowest first (so the numbers in
    /// use stay dense and reads short); computed on the first track.
    free: Option<BinaryHeap<Reverse<u32>>>,
}

impl Counters {
    /// Becomes the table's only writer, waiting a while for another one.
    fn lock_for_writes(&mut self) -> Result<()> {
        if self.writer.is_some() {
            return Ok(());
        }
        let dir = File::open(&self.pin_dir).map_err(io_error(format!(
            "opening {} to lock it",
            self.pin_dir.display()
        )))?;
        let deadline = Instant::now() + WRITER_WAIT;
        loop {
            match dir.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(10));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(BpfError::Aya {
                        what: "writing the counters table".into(),
                        detail: format!(
                            "another process has held {} for {} s (an alias-mgr apply or \
                             `counters track` that is stuck?); try again once it is done",
                            self.pin_dir.display(),
                            WRITER_WAIT.as_secs()
                        ),
                    })
                }
                Err(TryLockError::Error(err)) => {
                    return Err(io_error(format!("locking {}", self.pin_dir.display()))(err))
                }
            }
        }
        // Someone else may have written since the table was opened.
        self.free = None;
        self.writer = Some(dir);
        Ok(())
    }

    fn table(&self) -> Table<'_> {
        Table::new(self.index.words(), self.keys.words())
    }

    fn cpus(&mut self) -> Result<usize> {
        match self.cpus {
            Some(cpus) => Ok(cpus),
            None => Ok(*self.cpus.insert(possible_cpus()?)),
        }
    }

    fn take_free_counter(&mut self, ip: IpAddr) -> Result<u32> {
        if self.free.is_none() {
            let mut used = vec![false; MAX_TRACKED_ADDRESSES as usize];
            for (counter, _) in self.table().tracked() {
                used[counter as usize] = true;
            }
            let free = (0..MAX_TRACKED_ADDRESSES)
                .filter(|&c| !used[c as usize])
                .map(Reverse)
                .collect();
            self.free = Some(free);
        }
        self.free
            .as_mut()
            .and_then(BinaryHeap::pop)
            .map(|Reverse(counter)| counter)
            .ok_or_else(|| BpfError::Aya {
                what: format!("tracking {ip}"),
                detail: format!(
                    "the counters table is full ({MAX_TRACKED_ADDRESSES} addresses); untrack some first"
                ),
            })
    }

    /// Sets the counts of `counter` on every CPU: `first` on CPU 0, zero
    /// on the others.
    fn set_counts(&mut self, counter: u32, first: TrafficCounters) -> Result<()> {
        let mut per_cpu = vec![TrafficCounters::default(); self.cpus()?];
        per_cpu[0] = first;
        let values = PerCpuValues::try_from(per_cpu).map_err(|err| BpfError::Io {
            what: "per-CPU values".into(),
            error: err,
        })?;
        self.values
            .set(counter, values, 0)
            .map_err(|err| aya_error(format!("setting counter {counter}"), err))
    }

    /// Starts counting `ip` (from zero unless it is already tracked).
    /// Returns whether it was newly added.
    pub fn track(&mut self, ip: IpAddr) -> Result<bool> {
        self.track_from(ip, TrafficCounters::default())
    }

    fn track_from(&mut self, ip: IpAddr, counts: TrafficCounters) -> Result<bool> {
        if ip.is_unspecified() {
            return Err(BpfError::Aya {
                what: format!("tracking {ip}"),
                detail: "the unspecified address is never a host's address".into(),
            });
        }
        self.lock_for_writes()?;
        let key = AddrKey::from(ip);
        let slot = match self.table().find(key) {
            Probe::Found { .. } => return Ok(false),
            Probe::Vacant { slot } => slot,
            Probe::Full => {
                return Err(BpfError::Aya {
                    what: format!("tracking {ip}"),
                    detail: format!(
                        "the {MAX_PROBES} index slots near its home slot are all taken (a rare \
                         run of addresses that hash alike); untrack some of the others first"
                    ),
                })
            }
        };
        let counter = self.take_free_counter(ip)?;
        // A counter number never published still holds the zeros the map
        // was created with: no syscall. One used before is reset first.
        if self.table().key(counter) != [0, 0] || counts != TrafficCounters::default() {
            self.set_counts(counter, counts)?;
        }
        self.table().publish(slot, key, counter);
        Ok(true)
    }

    /// Stops counting `ip` and forgets its counts. Returns whether it was tracked.
    pub fn untrack(&mut self, ip: IpAddr) -> Result<bool> {
        self.lock_for_writes()?;
        let Probe::Found { slot, counter } = self.table().find(AddrKey::from(ip)) else {
            return Ok(false);
        };
        self.table().remove(slot);
        if let Some(free) = self.free.as_mut() {
            free.push(Reverse(counter));
        }
        Ok(true)
    }

    /// Every tracked address, read from the mapped index alone: no
    /// syscall, where `read_all` reads every counter row too.
    pub fn tracked_addresses(&self) -> BTreeSet<IpAddr> {
        self.table().tracked().map(|(_, key)| key.ip()).collect()
    }

    /// Every tracked address with its counts summed over all CPUs.
    pub fn read_all(&self) -> Result<BTreeMap<IpAddr, TrafficCounters>> {
        let cpus = match self.cpus {
            Some(cpus) => cpus,
            None => possible_cpus()?,
        };
        let tracked: Vec<(u32, AddrKey)> = self.table().tracked().collect();
        let Some(highest) = tracked.iter().map(|(counter, _)| *counter).max() else {
            return Ok(BTreeMap::new());
        };
        let mut sums = vec![TrafficCounters::default(); highest as usize + 1];
        for_each_per_cpu(
            self.values_fd.as_fd(),
            cpus,
            highest as usize + 1,
            |counter: &u32, per_cpu| {
                if let Some(sum) = sums.get_mut(*counter as usize) {
                    for share in per_cpu {
                        sum.accumulate(share);
                    }
                }
            },
        )
        .map_err(io_error("reading the counters map"))?;
        Ok(tracked
            .into_iter()
            .map(|(counter, key)| (key.ip(), sums[counter as usize]))
            .collect())
    }
}

/// Carries the counts of a per-CPU hash map of counters pinned at `pin`
/// by an alias-mgr before the array table over into `counters`, then
/// removes its pin (the classifier still attached with it goes on
/// counting there until it is replaced, a moment later, by `attach`).
pub(super) fn carry_over_legacy(counters: &mut Counters, pin: &Path) -> Result<()> {
    let legacy = MapData::from_pin(pin)
        .map_err(|err| aya_error(format!("opening pinned map {}", pin.display()), err))?;
    let cpus = counters.cpus()?;
    let mut old = Vec::new();
    for_each_per_cpu(
        legacy.fd().as_fd(),
        cpus,
        usize::MAX,
        |key: &AddrKey, per_cpu| {
            let mut total = TrafficCounters::default();
            for share in per_cpu {
                total.accumulate(share);
            }
            old.push((key.ip(), total));
        },
    )
    .map_err(io_error(format!("reading {}", pin.display())))?;
    for (ip, total) in old {
        counters.track_from(ip, total)?;
    }
    fs::remove_file(pin).map_err(io_error(format!("removing {}", pin.display())))
}
