//! The raw syscalls aya does not wrap, in one place: bpf(2) to detach a
//! pinned link synchronously and to read maps in batches, mmap(2) of an
//! array map, and if_nametoindex(3).

use std::{
    ffi::CString,
    fs, io,
    os::{
        fd::{AsRawFd, BorrowedFd},
        unix::ffi::OsStrExt,
    },
    path::Path,
    ptr::NonNull,
    sync::atomic::AtomicU64,
};

use alias_ebpf::TrafficCounters;

const BPF_OBJ_GET: libc::c_long = 7;
const BPF_LINK_DETACH: libc::c_long = 34;

/// Detaches a pinned link now and removes its pin. Only unlinking the pin
/// would free the link after an RCU grace period and a work item, so a few
/// more packets could be counted after `detach` returned; BPF_LINK_DETACH
/// cuts it off synchronously.
pub(super) fn detach_pinned_link(pin: &Path) -> io::Result<()> {
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

pub(super) fn nametoindex(iface: &str) -> Option<u32> {
    let name = CString::new(iface).ok()?;
    // SAFETY: a valid NUL-terminated string; the call only reads it.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// BPF_MAP_LOOKUP_BATCH, from linux/bpf.h.
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// Entries asked for per call; a call that cannot fit one hash bucket
/// (ENOSPC) is retried with twice as many.
const ENTRIES_PER_CALL: usize = 1024;

/// `union bpf_attr` as the batch commands read it.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// Calls `each` with the keys of the per-CPU map behind `map` (keys of
/// type `K`) and their values, one per possible CPU (`cpus`), many
/// entries per syscall (BPF_MAP_LOOKUP_BATCH, Linux 5.6): aya reads a map
/// two syscalls per key (next key, then lookup). Stops after `limit`
/// entries (an array's first `limit`) or at the map's end.
pub(super) fn for_each_per_cpu<K: Copy + Default>(
    map: BorrowedFd<'_>,
    cpus: usize,
    limit: usize,
    mut each: impl FnMut(&K, &[TrafficCounters]),
) -> io::Result<()> {
    let mut capacity = ENTRIES_PER_CALL;
    let mut keys: Vec<K> = Vec::new();
    let mut values: Vec<TrafficCounters> = Vec::new();
    // The kernel's cursor: a bucket number for hash maps, the last key
    // for arrays (a u32): 8 bytes hold either.
    let mut cursor = 0u64;
    let mut started = false;
    let mut done = 0;
    while done < limit {
        let count = capacity.min(limit - done);
        keys.resize(count, K::default());
        values.resize(count * cpus, TrafficCounters::default());
        let mut next = 0u64;
        let mut attr = BatchAttr {
            in_batch: if started {
                &cursor as *const u64 as u64
            } else {
                0
            },
            out_batch: &mut next as *mut u64 as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: count as u32,
            map_fd: map.as_raw_fd() as u32,
            ..Default::default()
        };
        // SAFETY: attr points at buffers of `count` keys and `count * cpus`
        // values (a per-CPU value is value_size rounded up to 8, which
        // TrafficCounters is, times the possible CPUs), alive for the call.
        let result = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_LOOKUP_BATCH,
                &mut attr as *mut BatchAttr,
                std::mem::size_of::<BatchAttr>(),
            )
        };
        let error = (result < 0).then(io::Error::last_os_error);
        match error.as_ref().and_then(io::Error::raw_os_error) {
            // One bucket holds more entries than fit: ask for more.
            Some(libc::ENOSPC) => {
                capacity *= 2;
                continue;
            }
            None | Some(libc::ENOENT) => {}
            Some(_) => return Err(error.expect("an error")),
        }
        let filled = attr.count as usize;
        for (index, key) in keys[..filled].iter().enumerate() {
            each(key, &values[index * cpus..(index + 1) * cpus]);
        }
        // ENOENT: that was the last of them.
        if error.is_some() {
            return Ok(());
        }
        done += filled;
        cursor = next;
        started = true;
    }
    Ok(())
}

/// An array map mapped into memory (BPF_F_MMAPABLE), shared with the
/// programs using it, as 64-bit words.
pub(super) struct MappedWords {
    start: NonNull<AtomicU64>,
    words: usize,
}

// SAFETY: the mapping is plain shared memory, accessed only through
// atomics.
unsafe impl Send for MappedWords {}
unsafe impl Sync for MappedWords {}

impl MappedWords {
    /// Maps the first `words` 64-bit words of the array behind `map`.
    pub(super) fn new(map: BorrowedFd<'_>, words: usize) -> io::Result<Self> {
        let len = words * size_of::<u64>();
        // SAFETY: a fresh shared mapping of the map's fd; the kernel checks
        // the length against the array and that it may be mapped.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                map.as_raw_fd(),
                0,
            )
        };
        if start == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let start = NonNull::new(start.cast()).ok_or_else(|| io::Error::other("mmap gave null"))?;
        Ok(Self { start, words })
    }

    pub(super) fn words(&self) -> &[AtomicU64] {
        // SAFETY: the mapping is `words` u64s long, page-aligned, and
        // lives as long as self.
        unsafe { std::slice::from_raw_parts(self.start.as_ptr(), self.words) }
    }
}

impl Drop for MappedWords {
    fn drop(&mut self) {
        // SAFETY: unmapping what `new` mapped, once.
        unsafe {
            libc::munmap(self.start.as_ptr().cast(), self.words * size_of::<u64>());
        }
    }
}
