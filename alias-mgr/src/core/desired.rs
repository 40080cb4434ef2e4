//! The desired state as the config file declares it.

use serde::Serialize;

use super::{model::AliasSpec, zones::ZoneSpec};

/// The whole desired state, as declared by the file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Config {
    pub settings: Settings,
    pub aliases: Vec<AliasSpec>,
    pub zones: Vec<ZoneSpec>,
}

/// `[settings]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// Whether alias-mgr sets `promote_secondaries` on the interfaces it
    /// manages, so deleting a primary address does not take its secondaries
    /// (the other aliases of the subnet) with it.
    pub promote_secondaries: bool,
    /// Whether alias-mgr counts each alias's traffic with its TC classifier
    /// (needs Linux >= 6.6 for TCX and a bpffs).
    pub counters: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            promote_secondaries: true,
            counters: true,
        }
    }
}
