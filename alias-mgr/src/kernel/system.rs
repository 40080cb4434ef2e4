//! The real kernel behind [`KernelOps`]: rtnetlink, sysctls, the
//! classifier's pins and `nft`.

use std::{collections::BTreeSet, net::IpAddr};

use anyhow::Result;
use serde_json::Value;

use super::KernelOps;
use crate::{
    core::{
        model::{DadState, Interface, LiveAddress, LiveRoute},
        plan::Action,
        zones::LiveTable,
    },
    sys::{
        bpf::{LinkLayer, PinDir},
        netlink::Netlink,
        nft, sysctl,
    },
};

/// This network namespace, as the process sees it, and a pin directory.
pub struct System {
    netlink: Netlink,
    pins: PinDir,
}

impl System {
    pub fn new(pins: PinDir) -> Result<Self> {
        Ok(Self {
            netlink: Netlink::connect()?,
            pins,
        })
    }

    pub fn pins(&self) -> &PinDir {
        &self.pins
    }

    pub async fn interface(&self, name: &str) -> Result<Option<Interface>> {
        Ok(self.netlink.interface(name).await?)
    }
}

impl KernelOps for System {
    async fn interfaces(&self) -> Result<Vec<Interface>> {
        Ok(self.netlink.interfaces().await?)
    }

    async fn addresses(&self, interfaces: &[Interface]) -> Result<Vec<LiveAddress>> {
        Ok(self.netlink.addresses(interfaces).await?)
    }

    async fn routes(&self) -> Result<Vec<LiveRoute>> {
        Ok(self.netlink.routes().await?)
    }

    async fn dad_state(&self, ifindex: u32, ip: IpAddr) -> Result<Option<DadState>> {
        Ok(self.netlink.dad_state(ifindex, ip).await?)
    }

    fn promote_secondaries(&self, interface: &str) -> Option<bool> {
        sysctl::promote_secondaries(interface).ok()
    }

    fn counters_unavailable(&self) -> Option<String> {
        self.pins.unavailable_reason()
    }

    fn tracked(&self) -> Result<BTreeSet<IpAddr>> {
        Ok(match self.pins.existing_counters()? {
            Some(counters) => counters.read_all()?.into_keys().collect(),
            None => BTreeSet::new(),
        })
    }

    fn pinned_links(&self) -> Result<Vec<String>> {
        Ok(self.pins.attached_interfaces()?)
    }

    fn is_attached(&self, interface: &str) -> Result<bool> {
        Ok(self.pins.is_attached(interface)?)
    }

    fn zone_table(&self) -> Result<LiveTable> {
        Ok(nft::live_table()?)
    }

    fn load_zones(&self, batch: &Value, check_only: bool) -> Result<()> {
        Ok(nft::load(batch, check_only)?)
    }

    async fn run(&self, action: &Action) -> Result<()> {
        match action {
            Action::SetPromoteSecondaries { interface, enabled } => {
                sysctl::set_promote_secondaries(interface, *enabled)?;
            }
            Action::RemoveRoute {
                ifindex,
                route,
                protocol,
                ..
            } => self.netlink.del_route(*ifindex, route, *protocol).await?,
            Action::AddRoute {
                ifindex,
                route,
                source,
                protocol,
                ..
            } => {
                self.netlink
                    .add_route(*ifindex, route, *source, *protocol)
                    .await?
            }
            Action::RemoveAddress {
                ifindex, address, ..
            } => self.netlink.del_address(*ifindex, *address).await?,
            Action::AddAddress {
                ifindex,
                address,
                label,
                protocol,
                ..
            } => {
                self.netlink
                    .add_address(*ifindex, *address, label.as_deref(), *protocol)
                    .await?
            }
            Action::Track { address } => {
                self.pins.counters()?.track(*address)?;
            }
            Action::Untrack { address } => {
                if let Some(mut counters) = self.pins.existing_counters()? {
                    counters.untrack(*address)?;
                }
            }
            Action::Attach {
                interface,
                ethernet,
            } => {
                let layer = if *ethernet {
                    LinkLayer::Ethernet
                } else {
                    LinkLayer::RawIp
                };
                self.pins.attach(interface, layer)?;
            }
            Action::Detach { interface, .. } | Action::ForgetLink { interface } => {
                self.pins.detach(interface)?;
            }
        }
        Ok(())
    }

    fn remove_pins(&self) -> Result<()> {
        Ok(self.pins.remove_all()?)
    }

    async fn remark_address(&self, address: &LiveAddress, protocol: u8) -> Result<()> {
        self.netlink
            .remark_address(
                address.ifindex,
                address.address,
                address.label.as_deref(),
                protocol,
            )
            .await?;
        Ok(())
    }
}
