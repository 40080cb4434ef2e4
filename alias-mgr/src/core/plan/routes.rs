//! Routes: each wanted alias's routes from its address, held back while
//! they cannot work yet, and owned routes nobody wants removed.

use std::{collections::BTreeSet, net::IpAddr};

use ipnet::IpNet;

use super::{addresses::LiveMatch, push_unique, Action, Observed, Planner};
use crate::core::model::{AliasSpec, DadState, Interface, LiveRoute, RouteSpec};

impl Planner<'_> {
    pub(super) fn plan_routes_of(
        &mut self,
        ip: IpAddr,
        alias: &AliasSpec,
        iface: &Interface,
        protocol: u8,
        found: &LiveMatch,
    ) {
        let routes_wait_for = routes_wait_for(ip, iface, found.dad);
        let observed = self.observed;
        for route in &alias.routes {
            let mut present = false;
            for live in observed
                .routes
                .iter()
                .filter(|r| r.destination == route.destination)
            {
                let same_path = live.gateway == route.gateway && live.ifindex == Some(iface.index);
                if !live.owned() && same_path && !found.need_add && self.desired.adopt {
                    self.out.actions.push(Action::AdoptRoute {
                        interface: iface.name.clone(),
                        ifindex: iface.index,
                        route: *route,
                        source: Some(ip),
                        from_source: live.preferred_source,
                        from: live.protocol,
                        protocol,
                    });
                    present = true;
                } else if !live.owned() {
                    let adoptable = if same_path {
                        "; it is the declared route: `alias-mgr apply --adopt` takes it over in place".to_string()
                    } else {
                        route_difference(live, route, iface)
                    };
                    self.out.conflicts.push(format!(
                        "route {} already exists (protocol {}) and was not added by alias-mgr{adoptable}; remove it with `ip route del {}` or drop it from {}'s routes",
                        live.destination, live.protocol, live.destination, alias.address
                    ));
                    present = true;
                } else if !found.need_add
                    && live.gateway == route.gateway
                    && live.ifindex == Some(iface.index)
                    && live.preferred_source == Some(ip)
                {
                    present = true;
                } else {
                    // Owned but different, or its alias is re-added (which drops it).
                    push_unique(&mut self.out.actions, remove_route(observed, live));
                }
            }
            if let (false, Some(why)) = (present, &routes_wait_for) {
                self.out.pending.push(format!(
                    "route {route} of {} on {}: {why}; it is added once that changes and `alias-mgr apply` runs (the daemon does it on its own)",
                    alias.address, iface.name
                ));
            } else if !present {
                self.out.actions.push(Action::AddRoute {
                    interface: iface.name.clone(),
                    ifindex: iface.index,
                    route: *route,
                    source: ip,
                    protocol,
                });
            }
        }
    }

    /// Owned routes nobody wants any more.
    pub(super) fn remove_unwanted_routes(&mut self) {
        let wanted_routes: BTreeSet<(IpNet, Option<IpAddr>, u32)> = self
            .wanted
            .values()
            .flat_map(|(alias, iface)| {
                alias
                    .routes
                    .iter()
                    .map(|r| (r.destination, r.gateway, iface.index))
            })
            .collect();
        let observed = self.observed;
        for live in observed.routes.iter().filter(|r| r.owned()) {
            let key = (live.destination, live.gateway, live.ifindex.unwrap_or(0));
            let kept = self.desired.keep_runtime && live.runtime();
            // An alias waiting for its interface (renamed, an ambiguous MAC)
            // is left alone, its routes with it.
            let pending = live
                .preferred_source
                .is_some_and(|ip| self.pending_ips.contains(&ip));
            if !wanted_routes.contains(&key)
                && self.source_in_scope(live.preferred_source)
                && !kept
                && !pending
            {
                push_unique(&mut self.out.actions, remove_route(observed, live));
            }
        }
    }
}

/// A route needs its gateway on-link (no connected route while the
/// interface is down) and an IPv6 source past DAD (which waits for
/// carrier): otherwise it waits, rather than failing the whole run.
fn routes_wait_for(ip: IpAddr, iface: &Interface, dad: DadState) -> Option<String> {
    if !iface.up {
        Some(format!("{} is down", iface.name))
    } else if dad == DadState::Failed {
        Some(format!("{ip} failed duplicate address detection"))
    } else if dad == DadState::Tentative && !iface.carrier {
        Some(format!(
            "{} has no carrier, so duplicate address detection of {ip} cannot finish",
            iface.name
        ))
    } else {
        None
    }
}

fn remove_route(observed: &Observed, live: &LiveRoute) -> Action {
    let ifindex = live.ifindex.unwrap_or(0);
    Action::RemoveRoute {
        interface: observed
            .interfaces
            .iter()
            .find(|i| i.index == ifindex)
            .map(|i| i.name.clone())
            .unwrap_or_default(),
        ifindex,
        route: RouteSpec {
            destination: live.destination,
            gateway: live.gateway,
        },
        source: live.preferred_source.unwrap_or(live.destination.addr()),
        protocol: live.protocol,
    }
}

/// How a foreign route to the same destination differs from the declared one.
fn route_difference(live: &LiveRoute, route: &RouteSpec, iface: &Interface) -> String {
    let shown = |gateway: Option<IpAddr>| gateway.map_or("none".to_string(), |g| g.to_string());
    let mut differences = Vec::new();
    if live.gateway != route.gateway {
        differences.push(format!(
            "gateway {} here, {} in the config",
            shown(live.gateway),
            shown(route.gateway)
        ));
    }
    if live.ifindex != Some(iface.index) {
        differences.push(format!("another device here, {} in the config", iface.name));
    }
    format!(
        " and differs from the declared one ({})",
        differences.join("; ")
    )
}
