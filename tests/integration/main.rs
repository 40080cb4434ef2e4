//! Root-only integration tests: each builds its own network namespaces and
//! bpffs pin directory and removes them on drop, also when it fails.
mod aliases;
mod config_safety;
mod counters;
mod daemon;
mod util;
mod zones;
