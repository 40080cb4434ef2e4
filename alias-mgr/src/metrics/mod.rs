//! Prometheus exposition: a collector that reads alias-mgr's sources when
//! scraped, and the `/metrics` endpoint the web server answers with. The
//! only module that uses the `prometheus` crate. Uses `core` (the config and
//! kernel model), `sys` (pinned maps, nft, memory), `web` and `logging`;
//! never `daemon` or `cli`, which use it.
//!
//! Nothing copies counters around: a scrape opens the pinned counters map,
//! asks nft for the zone counters and reads `/proc/self`, then builds the
//! families from what it read. Traffic counters therefore live in the kernel
//! (pinned maps and nftables) and never go backwards when the daemon restarts;
//! only the daemon's own counters (reconciles, drift) start at 0 with each
//! process, like every exporter's.
//!
//! Memory stays proportional to one piece: [`Scrape::pieces`](scrape::Scrape::pieces)
//! builds the families a piece of at most 500 samples at a time and the
//! endpoint writes each before building the next, so 10,000 tracked
//! addresses never hold a family of 10,000 samples.
//!
//! - `families`: the name, help, type and labels of every family;
//! - `stats`: the daemon's own counters ([`Trigger`], `DaemonStats`);
//! - `index`: the labels of every address ([`AddressIndex`]);
//! - `collector`: the sources and the [`Exporter`] that reads them;
//! - `scrape`: one scrape's readings turned into families;
//! - `process`: this process's resource use from /proc/self;
//! - `endpoint`: what the web server answers for `/metrics` and `/`.

mod address_text;
mod collector;
mod endpoint;
mod families;
#[cfg(test)]
mod fixtures;
mod index;
mod process;
mod scrape;
mod stats;

pub use collector::{Exporter, KernelSources};
pub use endpoint::MetricsEndpoint;
pub use index::AddressIndex;
pub use stats::Trigger;
