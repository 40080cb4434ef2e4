//! The pure core: what alias-mgr wants and how to get there, with no I/O.
//!
//! Everything here is plain data and functions over it: the model of desired
//! and live state, the one parser of addresses and netmasks and the one
//! set of rules for labels and interface names (used by the CLI, the
//! config file and every importer),
//! the config's zones, the planner (desired + observed -> actions) and the
//! zone table renderer. Nothing here touches the kernel, a
//! file, the clock or an async runtime, and nothing here imports another
//! layer of alias-mgr, so all of it is unit-tested without root.
pub mod admit;
pub mod desired;
#[cfg(test)]
pub mod fixtures;
pub mod model;
pub mod names;
pub mod parse;
pub mod plan;
pub mod resolve;
pub mod text;
pub mod wire;
pub mod zones;
