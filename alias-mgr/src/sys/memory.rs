//! The C allocator: giving freed pages back to the kernel.

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
