//! The TC classifier. It only means something for the BPF target; on the host
//! this binary is empty so `cargo test --workspace` can still build the crate.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod classifier;

#[cfg(not(target_arch = "bpf"))]
fn main() {}
