//! The one parser per concept that the CLI, the config file and the
//! importers share, so the same text means the same thing (and is refused
//! with the same words) wherever it is written. Pure functions, no I/O.
//!
//! Each refusal is a message for a person; callers put their own subject in
//! front (`address "...": `) or their format's example after it.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr},
};

use super::text::shown;

/// The longest prefix length of `ip`'s family: a host route.
pub fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// A decimal prefix length up to `max`; no sign, no spaces.
pub fn prefix_length(text: &str, max: u8) -> Option<u8> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u8>().ok().filter(|len| *len <= max)
}

/// The prefix length of a dotted netmask such as 255.255.255.0, if it is
/// one (leading ones, then only zeros). Linux addresses carry a length, not
/// a mask, so a non-contiguous mask stands for nothing that can be kept.
pub fn netmask_prefix(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

fn non_contiguous(mask: &str) -> String {
    format!("netmask {mask} is not contiguous (its one bits must come first, as in 255.255.255.0)")
}

/// Why [`parse_address`] refused a text. Both carry the finished message;
/// the kind lets a caller say how its own format writes an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// The part before any '/' is no IP address; the message names it
    /// (`"192.168.0.300" is not an IP address`).
    NotAnAddress(String),
    /// The part after the '/' is no prefix length (or, for IPv4, no
    /// contiguous netmask). The message has no subject: callers put one
    /// in front, such as `address "10.0.0.1/33": `.
    Prefix(String),
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::NotAnAddress(message) | AddressError::Prefix(message) => {
                f.write_str(message)
            }
        }
    }
}

/// `ADDR`, `ADDR/PREFIX` or (IPv4) `ADDR/NETMASK` such as
/// 10.1.1.3/255.255.0.0, keeping the host bits the user wrote. The prefix is
/// None when the text gives none; whether that is allowed is the caller's.
pub fn parse_address(text: &str) -> Result<(IpAddr, Option<u8>), AddressError> {
    let (addr, length) = match text.split_once('/') {
        Some((addr, length)) => (addr, Some(length)),
        None => (text, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| AddressError::NotAnAddress(format!("{} is not an IP address", shown(addr))))?;
    let Some(length) = length else {
        return Ok((ip, None));
    };
    if let Some(prefix) = prefix_length(length, max_prefix(ip)) {
        return Ok((ip, Some(prefix)));
    }
    let mask = length.parse::<Ipv4Addr>().ok();
    let message = match (ip, mask) {
        (IpAddr::V4(_), Some(mask)) => match netmask_prefix(mask) {
            Some(prefix) => return Ok((ip, Some(prefix))),
            None => format!(
                "{}, so it stands for no prefix length: write the subnet's prefix length instead, such as {ip}/24",
                non_contiguous(length)
            ),
        },
        (IpAddr::V6(_), Some(_)) => format!(
            "IPv6 takes a prefix length, not a netmask: write it as {ip}/64 (or the subnet's own prefix length)"
        ),
        (IpAddr::V4(_), None) => format!(
            "prefix length must be 0 to 32 (or a netmask such as 255.255.255.0), found {}: write it as e.g. {ip}/24",
            shown(length)
        ),
        (IpAddr::V6(_), None) => format!(
            "prefix length must be 0 to 128, found {}: write it as e.g. {ip}/64",
            shown(length)
        ),
    };
    Err(AddressError::Prefix(message))
}

/// Which netmask spellings a format accepts for IPv4 besides the dotted
/// one; an IPv6 netmask is always a length.
#[derive(Debug, Clone, Copy, Default)]
pub struct MaskForms {
    /// `0xffffff00`, as BSD ifconfig takes it.
    pub hex: bool,
    /// `24`, as ifupdown takes it.
    pub v4_length: bool,
}

impl MaskForms {
    fn expected(self) -> String {
        let mut forms = vec!["dotted such as 255.255.255.0"];
        if self.hex {
            forms.push("hex such as 0xffffff00");
        }
        if self.v4_length {
            forms.push("a prefix length such as 24");
        }
        forms.join(" or ")
    }
}

/// The prefix length a netmask written on its own stands for (`netmask M`
/// of ifconfig, ifupdown and route); `v6` takes a length only.
pub fn parse_netmask(text: &str, v6: bool, forms: MaskForms) -> Result<u8, String> {
    if v6 {
        return prefix_length(text, 128).ok_or_else(|| {
            format!("netmask {} is not an IPv6 prefix length; expected a number from 0 to 128 such as 64", shown(text))
        });
    }
    let invalid = || {
        format!(
            "{} is not a netmask; expected {}",
            shown(text),
            forms.expected()
        )
    };
    let mask = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        let well_formed = forms.hex
            && !hex.is_empty()
            && hex.len() <= 8
            && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed {
            return Err(invalid());
        }
        Ipv4Addr::from(u32::from_str_radix(hex, 16).map_err(|_| invalid())?)
    } else if text.contains('.') {
        text.parse::<Ipv4Addr>().map_err(|_| invalid())?
    } else if forms.v4_length {
        return prefix_length(text, 32).ok_or_else(invalid);
    } else {
        return Err(invalid());
    };
    netmask_prefix(mask).ok_or_else(|| non_contiguous(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> (IpAddr, Option<u8>) {
        parse_address(text).unwrap()
    }

    fn address_error(text: &str) -> AddressError {
        parse_address(text).unwrap_err()
    }

    #[test]
    fn addresses_with_and_without_a_prefix() {
        assert_eq!(
            address("192.168.0.1"),
            ("192.168.0.1".parse().unwrap(), None)
        );
        assert_eq!(
            address("10.0.0.1/8"),
            ("10.0.0.1".parse().unwrap(), Some(8))
        );
        assert_eq!(address("2001:db8::1/64").1, Some(64));
        assert_eq!(address("2001:db8::1/128").1, Some(128));
        assert_eq!(address("10.0.0.1/0").1, Some(0));
    }

    #[test]
    fn dotted_netmasks_after_the_slash_are_prefix_lengths() {
        assert_eq!(address("10.1.1.3/255.255.0.0").1, Some(16));
        assert_eq!(address("10.1.1.3/255.255.255.255").1, Some(32));
        assert_eq!(address("10.1.1.3/0.0.0.0").1, Some(0));
        let AddressError::Prefix(message) = address_error("10.1.1.3/255.0.255.0") else {
            panic!("not a prefix error");
        };
        assert!(
            message.starts_with("netmask 255.0.255.0 is not contiguous"),
            "{message}"
        );
        assert!(message.ends_with("such as 10.1.1.3/24"), "{message}");
        let message = address_error("2001:db8::1/255.255.0.0").to_string();
        assert!(
            message.starts_with("IPv6 takes a prefix length, not a netmask"),
            "{message}"
        );
    }

    #[test]
    fn bad_addresses_and_prefixes_say_which_part_is_wrong() {
        assert_eq!(
            address_error("192.168.0.300/24"),
            AddressError::NotAnAddress("\"192.168.0.300\" is not an IP address".into())
        );
        assert_eq!(
            address_error("10.0.0.1/33"),
            AddressError::Prefix(
                "prefix length must be 0 to 32 (or a netmask such as 255.255.255.0), found \"33\": write it as e.g. 10.0.0.1/24".into()
            )
        );
        assert!(address_error("2001:db8::1/129")
            .to_string()
            .contains("0 to 128"));
        for text in ["10.0.0.1/", "10.0.0.1/+8", "10.0.0.1/ 8", "10.0.0.1/x"] {
            assert!(
                matches!(address_error(text), AddressError::Prefix(_)),
                "{text}"
            );
        }
    }

    #[test]
    fn netmask_prefix_needs_contiguous_ones() {
        let prefix = |mask: &str| netmask_prefix(mask.parse().unwrap());
        assert_eq!(prefix("255.255.255.0"), Some(24));
        assert_eq!(prefix("255.255.240.0"), Some(20));
        assert_eq!(prefix("255.255.255.255"), Some(32));
        assert_eq!(prefix("0.0.0.0"), Some(0));
        assert_eq!(prefix("255.0.255.0"), None);
        assert_eq!(prefix("0.255.255.255"), None);
    }

    #[test]
    fn netmask_forms() {
        let all = MaskForms {
            hex: true,
            v4_length: true,
        };
        assert_eq!(parse_netmask("255.255.255.0", false, all), Ok(24));
        assert_eq!(parse_netmask("0xFFFF0000", false, all), Ok(16));
        assert_eq!(parse_netmask("0.0.0.0", false, all), Ok(0));
        assert_eq!(parse_netmask("255.255.255.255", false, all), Ok(32));
        assert_eq!(parse_netmask("24", false, all), Ok(24));
        assert_eq!(parse_netmask("128", true, all), Ok(128));
        assert!(parse_netmask("+24", false, all).is_err());
        assert!(parse_netmask("0x", false, all).is_err());
    }

    #[test]
    fn netmask_forms_a_format_does_not_take_are_refused() {
        let dotted = MaskForms::default();
        let err = parse_netmask("24", false, dotted).unwrap_err();
        assert!(
            err.contains("not a netmask; expected dotted such as 255.255.255.0"),
            "{err}"
        );
        assert!(!err.contains("hex"), "{err}");
        assert!(parse_netmask("0xffffff00", false, dotted).is_err());
        let err = parse_netmask(
            "0xffff00ff",
            false,
            MaskForms {
                hex: true,
                v4_length: false,
            },
        )
        .unwrap_err();
        assert!(err.contains("not contiguous"), "{err}");
        let err = parse_netmask("255.255.255.0", true, dotted).unwrap_err();
        assert!(err.contains("IPv6 prefix length"), "{err}");
    }
}
