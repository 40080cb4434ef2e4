//! Interface names and address labels: the one set of rules (the kernel's,
//! plus what keeps `ip`/`ifconfig` output readable) the CLI, the config file
//! and the importers share. Each refusal is a typed error whose text names
//! the problem and, where one exists, a label that would do.

use std::fmt;

use super::{
    model::MAX_LABEL_LEN,
    text::{is_invisible, shown},
};

/// Why a string cannot be a Linux interface name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterfaceNameError {
    #[error("interface is empty; write the device name such as \"eth1\"")]
    Empty,
    /// `eth1:0` is how people write a label, not an interface.
    #[error(
        "interface {} contains ':', which marks a label; write interface = {} and label = {}",
        shown(name),
        shown(device),
        shown(name)
    )]
    Label { name: String, device: String },
    #[error("interface {} is {} bytes; Linux interface names have at most {MAX_LABEL_LEN}", shown(name), name.len())]
    TooLong { name: String },
    #[error("interface {} is not a valid Linux interface name (no whitespace, '/', control or invisible characters); check `ip link`", shown(name))]
    Invalid { name: String },
}

/// Checks an interface name the way the kernel will (`dev_valid_name`:
/// length, no '/', no whitespace, not `.` or `..`), refusing ':' by name
/// because it is how people write a label.
pub fn validate_interface(name: &str) -> Result<(), InterfaceNameError> {
    if name.is_empty() {
        return Err(InterfaceNameError::Empty);
    }
    if let Some((device, _)) = name.split_once(':') {
        return Err(InterfaceNameError::Label {
            name: name.into(),
            device: device.into(),
        });
    }
    if name.len() > MAX_LABEL_LEN {
        return Err(InterfaceNameError::TooLong { name: name.into() });
    }
    let bad_char = |c: char| c.is_whitespace() || c == '/' || c.is_control() || is_invisible(c);
    if name == "." || name == ".." || name.chars().any(bad_char) {
        return Err(InterfaceNameError::Invalid { name: name.into() });
    }
    Ok(())
}

/// A zone name that cannot be one (it names nft chains, sets and counters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("zone name {} is invalid; use 1 to 32 letters, digits, '_' or '-', starting with a letter, such as \"lab\"", shown(.name))]
pub struct ZoneNameError {
    pub name: String,
}

/// 1 to 32 ASCII letters, digits, '_' or '-', starting with a letter: what
/// nft accepts in the names alias-mgr derives from it (`in_NAME_accept`).
pub fn validate_zone_name(name: &str) -> Result<(), ZoneNameError> {
    let valid = (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        return Ok(());
    }
    Err(ZoneNameError { name: name.into() })
}

/// Splits ifconfig's `eth1:0` into the interface and the label it names.
/// Linux interface names cannot contain ':', so the split is unambiguous.
pub fn split_label(name: &str) -> (&str, Option<&str>) {
    match name.split_once(':') {
        Some((interface, _)) => (interface, Some(name)),
        None => (name, None),
    }
}

/// Why a string cannot be an address's label. `example` is a label that
/// would do, when one fits in the kernel's 15 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelError {
    Empty {
        example: Option<String>,
    },
    /// Whitespace, '/' or control characters.
    Unprintable {
        label: String,
    },
    /// Over 15 bytes, interface unknown.
    TooLong {
        label: String,
    },
    /// Does not start with `INTERFACE` (`for_interface`: the one it names).
    OtherInterface {
        label: String,
        interface: String,
        for_interface: Option<String>,
        example: Option<String>,
    },
    /// `INTERFACE:` with nothing after it.
    NoSuffix {
        label: String,
        example: Option<String>,
    },
    /// Over 15 bytes for an alias on `interface`.
    TooLongFor {
        label: String,
        interface: String,
        example: Option<String>,
    },
}

impl std::error::Error for LabelError {}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelError::Empty { example: Some(e) } => {
                write!(f, "label is empty; drop the label or write one such as {e}")
            }
            LabelError::Empty { example: None } => f.write_str("label is empty; drop the label"),
            LabelError::Unprintable { label } => write!(
                f,
                "label {} contains whitespace, '/', control or invisible characters, which `ip` and `ifconfig` cannot show: remove them",
                shown(label)
            ),
            LabelError::TooLong { label } => write!(
                f,
                "label {} is {} bytes; the kernel allows at most {MAX_LABEL_LEN} (IFNAMSIZ): shorten the part after the interface name and ':'",
                shown(label),
                label.len()
            ),
            LabelError::OtherInterface {
                label,
                interface,
                for_interface,
                example,
            } => {
                match for_interface {
                    Some(named) => write!(
                        f,
                        "label {} is for interface {named}, but the alias is on {interface}; a label must start with the interface name",
                        shown(label)
                    )?,
                    None => write!(f, "label {} must start with the interface name", shown(label))?,
                }
                match example {
                    Some(example) => write!(f, ": use {example}"),
                    None => write!(
                        f,
                        ", but {interface} is {} bytes, which leaves no room for a ':' suffix within the kernel's {MAX_LABEL_LEN}: drop the label",
                        interface.len()
                    ),
                }
            }
            LabelError::NoSuffix { label, example } => match example {
                Some(example) => write!(
                    f,
                    "label {} has nothing after ':': add a suffix, such as {example}",
                    shown(label)
                ),
                None => write!(f, "label {} has nothing after ':': drop the label", shown(label)),
            },
            LabelError::TooLongFor {
                label,
                interface,
                example,
            } => {
                write!(
                    f,
                    "label {} is {} bytes; the kernel allows at most {MAX_LABEL_LEN} (IFNAMSIZ), ",
                    shown(label),
                    label.len()
                )?;
                let room = label_room(interface);
                match example {
                    Some(example) => write!(
                        f,
                        "which leaves {room} byte{} after \"{interface}:\": use a shorter suffix, such as {example}",
                        if room == 1 { "" } else { "s" },
                    ),
                    None => write!(
                        f,
                        "and {interface} is {} bytes, which leaves no room for a ':' suffix: drop the label",
                        interface.len()
                    ),
                }
            }
        }
    }
}

/// Checks a label the way the kernel will (length) plus what makes it
/// unusable in `ip`/`ifconfig` output (whitespace, '/', empty). Without the
/// interface it cannot check the `INTERFACE:` prefix; [`validate_label_for`]
/// does, and is what a label attached to an alias must pass.
pub fn validate_label(label: &str) -> Result<(), LabelError> {
    if label.is_empty() {
        return Err(LabelError::Empty {
            example: Some("INTERFACE:0".into()),
        });
    }
    check_label_characters(label)?;
    if label.len() > MAX_LABEL_LEN {
        return Err(LabelError::TooLong {
            label: label.into(),
        });
    }
    Ok(())
}

fn check_label_characters(label: &str) -> Result<(), LabelError> {
    if label
        .chars()
        .any(|c| c.is_whitespace() || c == '/' || c.is_control() || is_invisible(c))
    {
        return Err(LabelError::Unprintable {
            label: label.into(),
        });
    }
    Ok(())
}

/// The label of an alias on `interface`: what [`validate_label`] checks,
/// plus that it is the interface name itself or `INTERFACE:SUFFIX`.
/// iproute2 refuses any other (`"dev" must match "label"`), and
/// `alias-mgr del eth1:0` finds the interface from the label's prefix.
pub fn validate_label_for(label: &str, interface: &str) -> Result<(), LabelError> {
    let example = |suffix: &str| fitted_label(interface, suffix);
    if label.is_empty() {
        return Err(LabelError::Empty {
            example: example("0"),
        });
    }
    check_label_characters(label)?;
    if label == interface {
        return Ok(());
    }
    let Some(suffix) = label
        .strip_prefix(interface)
        .and_then(|rest| rest.strip_prefix(':'))
    else {
        // Keep what the user wrote after a foreign `IFACE:`, or all of it.
        let (named, suffix) = match label.split_once(':') {
            Some((named, suffix)) => (Some(named), suffix),
            None => (None, label),
        };
        let suffix = if suffix.is_empty() { "0" } else { suffix };
        return Err(LabelError::OtherInterface {
            label: label.into(),
            interface: interface.into(),
            for_interface: named.filter(|n| !n.is_empty()).map(String::from),
            example: example(suffix),
        });
    };
    if suffix.is_empty() {
        return Err(LabelError::NoSuffix {
            label: label.into(),
            example: example("0"),
        });
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(LabelError::TooLongFor {
            label: label.into(),
            interface: interface.into(),
            example: example(suffix),
        });
    }
    Ok(())
}

/// Bytes left for the suffix of `INTERFACE:SUFFIX`.
fn label_room(interface: &str) -> usize {
    MAX_LABEL_LEN.saturating_sub(interface.len() + 1)
}

/// `INTERFACE:SUFFIX` cut to the kernel's limit, or None when not even one
/// byte of suffix fits.
fn fitted_label(interface: &str, suffix: &str) -> Option<String> {
    let room = label_room(interface);
    let mut end = suffix.len().min(room);
    while !suffix.is_char_boundary(end) {
        end -= 1;
    }
    let suffix = if end == 0 { "0" } else { &suffix[..end] };
    (room > 0).then(|| format!("{interface}:{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_characters_and_huge_values_are_refused_readably() {
        let err = validate_label_for("eth1:\u{200b}0", "eth1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("invisible"), "{err}");
        assert!(err.contains("\\u{200b}"), "shows where: {err}");
        assert!(validate_interface("eth\u{200b}1").is_err());
        let huge = format!("eth1:{}", "x".repeat(50 << 20));
        let err = validate_label_for(&huge, "eth1").unwrap_err().to_string();
        assert!(err.len() < 400, "{} bytes", err.len());
        assert!(err.contains("bytes"), "{err}");
    }

    #[test]
    fn interface_names_follow_the_kernel() {
        for ok in ["eth1", "enx00e04c680001", "br-lan", "wg0.5"] {
            assert_eq!(validate_interface(ok), Ok(()), "{ok}");
        }
        assert!(validate_interface("")
            .unwrap_err()
            .to_string()
            .contains("is empty"));
        assert!(validate_interface("eth1:0")
            .unwrap_err()
            .to_string()
            .contains("write interface = \"eth1\" and label = \"eth1:0\""));
        assert!(validate_interface("enx00e04c6800011")
            .unwrap_err()
            .to_string()
            .contains("at most 15"));
        for bad in ["eth 1", "a/b", ".", "..", "eth\t1"] {
            let err = validate_interface(bad).unwrap_err().to_string();
            assert!(
                err.contains("not a valid Linux interface name"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn ifconfig_style_names_carry_the_label() {
        assert_eq!(split_label("eth1:0"), ("eth1", Some("eth1:0")));
        assert_eq!(split_label("eth1:web"), ("eth1", Some("eth1:web")));
        assert_eq!(split_label("eth1"), ("eth1", None));
    }

    #[test]
    fn labels_over_15_bytes_are_rejected() {
        assert!(validate_label("eth1:0").is_ok());
        assert!(validate_label("enx00e04c680001").is_ok());
        let err = validate_label("enx00e04c680001:0").unwrap_err().to_string();
        assert!(err.contains("15"), "{err}");
        assert!(validate_label("eth 1").is_err());
        assert!(validate_label("").is_err());
    }

    #[test]
    fn generic_label_message_suggests_no_foreign_interface() {
        let err = validate_label("enx00e04c680001:0").unwrap_err().to_string();
        assert!(!err.contains("eth1"), "{err}");
        assert!(err.contains("shorten"), "{err}");
    }

    #[test]
    fn labels_must_start_with_their_interface() {
        assert!(validate_label_for("eth1:0", "eth1").is_ok());
        assert!(validate_label_for("eth1:web", "eth1").is_ok());
        assert!(validate_label_for("eth1", "eth1").is_ok());
        assert!(validate_label_for("eth1:0:1", "eth1").is_ok());
        assert_eq!(
            validate_label_for("web", "eth1").unwrap_err().to_string(),
            "label \"web\" must start with the interface name: use eth1:web"
        );
        let err = validate_label_for("eth2:0", "eth1")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("label \"eth2:0\" is for interface eth2, but the alias is on eth1"),
            "{err}"
        );
        assert!(err.ends_with("use eth1:0"), "{err}");
        // A prefix that is not followed by ':' is another interface's name.
        let err = validate_label_for("eth10", "eth1").unwrap_err().to_string();
        assert!(err.contains("must start with the interface name"), "{err}");
        let err = validate_label_for("eth1:", "eth1").unwrap_err().to_string();
        assert!(err.contains("nothing after ':'"), "{err}");
        assert!(err.ends_with("such as eth1:0"), "{err}");
        // The suggestion itself must fit in 15 bytes.
        let err = validate_label_for("webserver-one", "enp0s31f6")
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("use enp0s31f6:webse"), "{err}");
        assert!(validate_label_for("enp0s31f6:webse", "enp0s31f6").is_ok());
    }

    #[test]
    fn label_checks_of_validate_label_still_apply() {
        assert!(validate_label_for("", "eth1")
            .unwrap_err()
            .to_string()
            .contains("such as eth1:0"));
        let err = validate_label_for("eth1:a b", "eth1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("whitespace"), "{err}");
        assert!(validate_label_for("eth1:a/b", "eth1").is_err());
    }

    #[test]
    fn long_labels_get_an_example_from_the_real_interface() {
        let err = validate_label_for("enp0s31f6:webserver", "enp0s31f6")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is 19 bytes"), "{err}");
        assert!(err.contains("leaves 5 bytes after \"enp0s31f6:\""), "{err}");
        assert!(err.ends_with("such as enp0s31f6:webse"), "{err}");
        assert!(!err.contains("eth1"), "{err}");

        let err = validate_label_for("wlp0s20f3u1:abcd", "wlp0s20f3u1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("leaves 3 bytes"), "{err}");
        assert!(err.ends_with("such as wlp0s20f3u1:abc"), "{err}");

        // 15-byte (and 14-byte) names leave no room for any suffix.
        let err = validate_label_for("enx00e04c680001:0", "enx00e04c680001")
            .unwrap_err()
            .to_string();
        assert!(err.contains("leaves no room"), "{err}");
        assert!(err.ends_with("drop the label"), "{err}");
        assert!(validate_label_for("enx00e04c680001", "enx00e04c680001").is_ok());
        let err = validate_label_for("web", "enx00e04c68000")
            .unwrap_err()
            .to_string();
        assert!(err.contains("leaves no room"), "{err}");
        assert!(validate_label_for("", "enx00e04c680001")
            .unwrap_err()
            .to_string()
            .ends_with("drop the label"));
    }
}
