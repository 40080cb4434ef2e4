//! Reading the kernel for the planner: interfaces, addresses, routes, the
//! sysctls that matter, and the classifier's pins (tracked addresses,
//! attached, orphaned and renamed links).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;

use super::{Kernel, KernelOps};
use crate::core::{plan::Observed, resolve};

impl<K: KernelOps> Kernel<K> {
    /// Reads everything the planner needs. `interfaces_of_interest` name
    /// the interfaces whose sysctls matter besides those with owned addresses.
    pub async fn observe<'a>(
        &self,
        interfaces_of_interest: impl IntoIterator<Item = &'a str>,
    ) -> Result<Observed> {
        let interfaces = self.ops.interfaces().await?;
        let addresses = self.ops.addresses(&interfaces).await?;
        let routes = self.ops.routes().await?;
        // Written as altnames or MACs in the file: their live names.
        let mut names: BTreeSet<&str> = interfaces_of_interest
            .into_iter()
            .filter_map(|named| resolve::find_interface(named, &interfaces))
            .map(|live| live.name.as_str())
            .collect();
        names.extend(
            addresses
                .iter()
                .filter(|a| a.owned())
                .map(|a| a.interface.as_str()),
        );
        let promote_secondaries: BTreeMap<String, bool> = names
            .into_iter()
            .filter(|name| interfaces.iter().any(|i| i.name == *name))
            .filter_map(|name| Some((name.to_string(), self.ops.promote_secondaries(name)?)))
            .collect();
        let counters_unavailable = self.ops.counters_unavailable();
        let (mut tracked, mut attached, mut orphaned_links, mut moved_links) = (
            BTreeSet::new(),
            BTreeSet::new(),
            BTreeSet::new(),
            BTreeMap::new(),
        );
        if counters_unavailable.is_none() {
            tracked = self.ops.tracked()?;
            let pinned = self.ops.pinned_links()?;
            // A renamed interface's links: attached under the new name, pins
            // under the old one. Looked for among interfaces without pins.
            let unpinned: Vec<&str> = interfaces
                .iter()
                .map(|i| i.name.as_str())
                .filter(|name| !pinned.iter().any(|p| p == name))
                .collect();
            for name in pinned {
                if interfaces.iter().any(|i| i.name == name) {
                    if self.ops.is_attached(&name)? {
                        attached.insert(name);
                    }
                } else if let Some(to) = self.ops.links_moved_to(&name, &unpinned)? {
                    attached.insert(to.clone());
                    moved_links.insert(name, to);
                } else {
                    orphaned_links.insert(name);
                }
            }
        }
        Ok(Observed {
            interfaces,
            addresses,
            routes,
            promote_secondaries,
            tracked,
            attached,
            orphaned_links,
            moved_links,
            counters_unavailable,
        })
    }
}
