//! The C allocator: giving freed pages back to the kernel.

/// Large blocks (a 10,000-entry Vec, a netlink dump's queue) get their own
/// mappings, unmapped when freed. glibc raises this threshold on its own
/// after the first large free, after which such blocks come from the heap
/// and leave holes that stay resident; a fixed value keeps them apart.
#[cfg(target_env = "gnu")]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Set once at daemon start, before the config is read.
pub fn tune_for_daemon() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets glibc allocator parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Hands freed heap pages back to the kernel. A reconcile or scrape of
/// 10,000 addresses frees several MB at once; without this glibc keeps them
/// and the resident size stays at the high-water mark.
pub fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks glibc's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
