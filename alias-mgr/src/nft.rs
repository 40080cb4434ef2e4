//! nftables: alias-mgr's own table (`inet alias_mgr`) through the `nftables`
//! crate and the real `nft`. The only module that runs nft.

/// One named counter of a zone, read with u64 precision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ZoneCounter {
    pub zone: String,
    /// "input" (zone -> this host) or "forward" (zone -> another zone).
    pub direction: &'static str,
    /// "accept" or "drop" (rejects count as drops).
    pub verdict: &'static str,
    pub packets: u64,
    pub bytes: u64,
}

/// Every zone counter of alias-mgr's table; empty when the table does not exist.
pub fn zone_counters() -> anyhow::Result<Vec<ZoneCounter>> {
    Ok(Vec::new())
}
