//! Code generation flags for the classifier, passed to bpf-linker (which
//! turns the bitcode into BPF): only for the BPF target.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("bpf") {
        return;
    }
    // Header fields sit at any byte offset. Without this, LLVM splits every
    // read of a field into byte loads and shifts; the kernel allows
    // misaligned packet reads on x86 and arm64, where the hardware does.
    println!("cargo:rustc-link-arg-bins=--cpu-features=+allows-misaligned-mem-access");
}
