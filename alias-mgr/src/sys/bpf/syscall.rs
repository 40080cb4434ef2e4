//! The raw syscalls aya does not wrap, in one place: bpf(2) to detach a
//! pinned link synchronously, and if_nametoindex(3).

use std::{ffi::CString, fs, io, os::unix::ffi::OsStrExt, path::Path};

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
