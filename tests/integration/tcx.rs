//! Another tool's TCX programs, made with raw bpf(2) so the tests depend on
//! neither alias-mgr nor a bpftool new enough to attach TCX (7.1 here is
//! not): a two-instruction "pass" program linked to an interface, and a
//! query of what runs on a hook, in order, as the kernel reports it.

use std::{
    fs::File,
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    thread,
};

use crate::util::Netns;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
pub const BPF_TCX_INGRESS: u32 = 46;
pub const BPF_TCX_EGRESS: u32 = 47;

fn bpf(cmd: libc::c_long, attr: &mut [u8; 128]) -> io::Result<i64> {
    // SAFETY: attr is a zero-padded bpf_attr of the size we pass.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ret)
}

fn put_u32(attr: &mut [u8; 128], at: usize, value: u32) {
    attr[at..at + 4].copy_from_slice(&value.to_ne_bytes());
}

fn put_u64(attr: &mut [u8; 128], at: usize, value: u64) {
    attr[at..at + 8].copy_from_slice(&value.to_ne_bytes());
}

/// Runs `f` on a thread that has entered `ns` (namespaces belong to a
/// thread; the test's own threads stay where they are).
fn in_netns<T: Send>(ns: &Netns, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    let file = File::open(format!("/run/netns/{}", ns.name))?;
    thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: setns on an fd we own, for this thread only.
                if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                f()
            })
            .join()
            .expect("the netns thread does not panic")
    })
}

fn ifindex(name: &str) -> io::Result<u32> {
    let name = std::ffi::CString::new(name).unwrap();
    // SAFETY: a NUL-terminated name.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        index => Ok(index),
    }
}

/// A foreign "pass" program (returns TCX_NEXT) linked to one hook of one
/// interface; detached when dropped (the link dies with its last fd).
pub struct ForeignProgram {
    _prog: OwnedFd,
    _link: OwnedFd,
}

impl ForeignProgram {
    pub fn attach(ns: &Netns, iface: &str, hook: u32) -> io::Result<Self> {
        in_netns(ns, || {
            // r0 = -1 (TCX_NEXT); exit
            let insns: [u64; 2] = [
                u64::from_le_bytes([0xb7, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
                u64::from_le_bytes([0x95, 0, 0, 0, 0, 0, 0, 0]),
            ];
            let license = b"GPL\0";
            let mut attr = [0u8; 128];
            put_u32(&mut attr, 0, BPF_PROG_TYPE_SCHED_CLS);
            put_u32(&mut attr, 4, insns.len() as u32);
            put_u64(&mut attr, 8, insns.as_ptr() as u64);
            put_u64(&mut attr, 16, license.as_ptr() as u64);
            attr[48..55].copy_from_slice(b"foreign");
            put_u32(&mut attr, 68, hook); // expected_attach_type
                                          // SAFETY: bpf(2) returned a new fd we now own.
            let prog = unsafe { OwnedFd::from_raw_fd(bpf(BPF_PROG_LOAD, &mut attr)? as i32) };
            let mut attr = [0u8; 128];
            put_u32(&mut attr, 0, prog.as_raw_fd() as u32);
            put_u32(&mut attr, 4, ifindex(iface)?);
            put_u32(&mut attr, 8, hook);
            // SAFETY: as above.
            let link = unsafe { OwnedFd::from_raw_fd(bpf(BPF_LINK_CREATE, &mut attr)? as i32) };
            Ok(ForeignProgram {
                _prog: prog,
                _link: link,
            })
        })
    }
}

/// The ids of the programs on `hook` of `iface`, in the order they run.
pub fn programs(ns: &Netns, iface: &str, hook: u32) -> Vec<u32> {
    in_netns(ns, || {
        let mut ids = [0u32; 64];
        let mut attr = [0u8; 128];
        put_u32(&mut attr, 0, ifindex(iface)?);
        put_u32(&mut attr, 4, hook);
        put_u64(&mut attr, 16, ids.as_mut_ptr() as u64);
        put_u32(&mut attr, 24, ids.len() as u32);
        bpf(BPF_PROG_QUERY, &mut attr)?;
        let count = u32::from_ne_bytes(attr[24..28].try_into().unwrap()) as usize;
        Ok(ids[..count].to_vec())
    })
    .unwrap_or_else(|err| panic!("querying TCX on {iface}: {err}"))
}
