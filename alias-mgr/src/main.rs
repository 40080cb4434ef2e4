//! The `alias-mgr` binary: everything lives in the library (see `cli`).
fn main() -> std::process::ExitCode {
    alias_mgr::main()
}
