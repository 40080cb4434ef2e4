//! The counters table's index, as userspace sees it: the `ADDR_INDEX` and
//! `ADDR_KEYS` arrays mapped into memory (see `alias_ebpf::INDEX_MAP`).
//! Pure over two slices of atomics, so it is unit-tested without a kernel.
//!
//! The classifier reads these while userspace writes, so every write is
//! ordered for a reader in the middle of it: a key is stored before the
//! slot that points at it is published (release), and a slot is freed
//! before its counter number is handed out again.

use std::sync::atomic::{AtomicU64, Ordering};

use alias_ebpf::{slot_hash, AddrKey, IndexSlot, INDEX_SLOTS, MAX_PROBES};

/// Where a probe for one address ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Probe {
    /// Tracked, in `slot`, counting in `counter`.
    Found { slot: u32, counter: u32 },
    /// Not tracked; `slot` is where it would go.
    Vacant { slot: u32 },
    /// Not tracked, and every slot it may use is taken.
    Full,
}

pub(super) struct Table<'a> {
    /// INDEX_SLOTS slots.
    index: &'a [AtomicU64],
    /// Two words per counter number: its address in memory order.
    keys: &'a [AtomicU64],
}

fn slot_number(home: u32, probe: u32) -> u32 {
    (home + probe) & (INDEX_SLOTS - 1)
}

impl<'a> Table<'a> {
    pub(super) fn new(index: &'a [AtomicU64], keys: &'a [AtomicU64]) -> Self {
        assert_eq!(index.len(), INDEX_SLOTS as usize, "index size");
        Self { index, keys }
    }

    fn slot(&self, number: u32) -> &AtomicU64 {
        &self.index[number as usize]
    }

    /// The address counter `counter` was last published for (all zeros if
    /// it never was).
    pub(super) fn key(&self, counter: u32) -> [u64; 2] {
        let at = counter as usize * 2;
        [
            self.keys[at].load(Ordering::Relaxed),
            self.keys[at + 1].load(Ordering::Relaxed),
        ]
    }

    /// Probes as the classifier does, remembering the first freed slot on
    /// the way so an insert reuses it.
    pub(super) fn find(&self, key: AddrKey) -> Probe {
        let words = key.words();
        let (home, tag) = slot_hash(words);
        let mut first_freed = None;
        for probe in 0..MAX_PROBES {
            let number = slot_number(home, probe);
            let slot = self.slot(number).load(Ordering::Acquire);
            if slot == IndexSlot::EMPTY {
                return Probe::Vacant {
                    slot: first_freed.unwrap_or(number),
                };
            }
            if slot == IndexSlot::FREED {
                first_freed.get_or_insert(number);
                continue;
            }
            if let Some(counter) = IndexSlot::counter_if_tagged(slot, tag) {
                if self.key(counter) == words {
                    return Probe::Found {
                        slot: number,
                        counter,
                    };
                }
            }
        }
        match first_freed {
            Some(slot) => Probe::Vacant { slot },
            None => Probe::Full,
        }
    }

    /// Makes `key` count in `counter`, from `slot` (a `Probe::Vacant`).
    pub(super) fn publish(&self, slot: u32, key: AddrKey, counter: u32) {
        let words = key.words();
        let at = counter as usize * 2;
        self.keys[at].store(words[0], Ordering::Relaxed);
        self.keys[at + 1].store(words[1], Ordering::Relaxed);
        let (_, tag) = slot_hash(words);
        self.slot(slot)
            .store(IndexSlot::used(tag, counter), Ordering::Release);
    }

    /// Frees `slot` (a `Probe::Found`). Freed slots just before an empty
    /// one end no probe early, so they become empty again: a table that
    /// sees adds and removes for years keeps short probes.
    pub(super) fn remove(&self, slot: u32) {
        self.slot(slot).store(IndexSlot::FREED, Ordering::Release);
        let mut number = slot;
        while self.slot(slot_number(number, 1)).load(Ordering::Acquire) == IndexSlot::EMPTY
            && self.slot(number).load(Ordering::Acquire) == IndexSlot::FREED
        {
            self.slot(number).store(IndexSlot::EMPTY, Ordering::Release);
            number = slot_number(number, INDEX_SLOTS - 1);
        }
    }

    /// Every tracked address's counter number and key, in slot order.
    pub(super) fn tracked(&self) -> impl Iterator<Item = (u32, AddrKey)> + '_ {
        self.index.iter().filter_map(|slot| {
            let counter = IndexSlot::counter(slot.load(Ordering::Acquire))?;
            Some((counter, AddrKey::from_words(self.key(counter))))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use alias_ebpf::MAX_TRACKED_ADDRESSES;

    struct Owned {
        index: Vec<AtomicU64>,
        keys: Vec<AtomicU64>,
    }

    fn owned() -> Owned {
        Owned {
            index: (0..INDEX_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            keys: (0..MAX_TRACKED_ADDRESSES * 2)
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    fn key(i: u32) -> AddrKey {
        AddrKey::from(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
    }

    fn insert(table: &Table, key: AddrKey, counter: u32) {
        match table.find(key) {
            Probe::Vacant { slot } => table.publish(slot, key, counter),
            other => panic!("{key:?}: {other:?}"),
        }
    }

    #[test]
    fn a_published_key_is_found_and_a_removed_one_is_not() {
        let owned = owned();
        let table = Table::new(&owned.index, &owned.keys);
        insert(&table, key(1), 5);
        let Probe::Found { slot, counter } = table.find(key(1)) else {
            panic!("not found");
        };
        assert_eq!(counter, 5);
        assert!(matches!(table.find(key(2)), Probe::Vacant { .. }));
        table.remove(slot);
        assert!(matches!(table.find(key(1)), Probe::Vacant { .. }));
        // Nothing after it: the freed slot is empty again.
        assert!(owned.index.iter().all(|s| s.load(Ordering::Relaxed) == 0));
    }

    /// Keys that share a home slot, found by trying addresses.
    fn sharing_a_home(count: usize) -> Vec<AddrKey> {
        let wanted = slot_hash(key(0).words()).0;
        (0..)
            .map(key)
            .filter(|k| slot_hash(k.words()).0 == wanted)
            .take(count)
            .collect()
    }

    #[test]
    fn removing_from_the_middle_of_a_chain_keeps_the_rest_findable() {
        let owned = owned();
        let table = Table::new(&owned.index, &owned.keys);
        let chain = sharing_a_home(3);
        for (counter, key) in chain.iter().enumerate() {
            insert(&table, *key, counter as u32);
        }
        let Probe::Found { slot, .. } = table.find(chain[1]) else {
            panic!("not found");
        };
        table.remove(slot);
        assert_eq!(
            owned.index[slot as usize].load(Ordering::Relaxed),
            IndexSlot::FREED
        );
        assert!(matches!(
            table.find(chain[2]),
            Probe::Found { counter: 2, .. }
        ));
        // A new key of the same home reuses the freed slot.
        let newcomer = sharing_a_home(4)[3];
        assert_eq!(table.find(newcomer), Probe::Vacant { slot });
        // Removing the last one empties it and the freed slot before it.
        let Probe::Found { slot: last, .. } = table.find(chain[2]) else {
            panic!("not found");
        };
        table.remove(last);
        assert_eq!(
            owned.index[slot as usize].load(Ordering::Relaxed),
            IndexSlot::EMPTY
        );
        assert!(matches!(
            table.find(chain[0]),
            Probe::Found { counter: 0, .. }
        ));
    }

    #[test]
    fn an_address_never_goes_farther_than_max_probes_from_home() {
        let owned = owned();
        let table = Table::new(&owned.index, &owned.keys);
        let chain = sharing_a_home(MAX_PROBES as usize + 1);
        for (counter, key) in chain[..MAX_PROBES as usize].iter().enumerate() {
            insert(&table, *key, counter as u32);
        }
        assert_eq!(table.find(chain[MAX_PROBES as usize]), Probe::Full);
    }

    #[test]
    fn a_full_table_of_addresses_is_all_found() {
        let owned = owned();
        let table = Table::new(&owned.index, &owned.keys);
        for i in 0..MAX_TRACKED_ADDRESSES {
            insert(&table, key(i * 7), i);
        }
        for i in 0..MAX_TRACKED_ADDRESSES {
            assert!(
                matches!(table.find(key(i * 7)), Probe::Found { counter, .. } if counter == i),
                "{i}"
            );
        }
        assert_eq!(table.tracked().count(), MAX_TRACKED_ADDRESSES as usize);
    }
}
