//! The plain table of `top --once` and of `top` on a terminal that is no
//! screen (a pipe, TERM=dumb): text only, as `vmstat 1` prints.

use super::{
    rates::{human_bits, Rates},
    sample::Row,
};

/// How wide the full table is (an IPv6 address takes up to 39
/// characters); a terminal narrower than this gets the address and the
/// two bit rates only.
const FULL_WIDTH: usize = 117;

/// The width of the terminal stdout is, if it is one.
fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    // SAFETY: an all-zero winsize is valid; TIOCGWINSZ only fills it.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: fd 1 is stdout, and `size` outlives the call.
    let ok = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

/// The three columns a narrow terminal (under [`FULL_WIDTH`]) gets.
fn narrow_table(rows: &[Row], seconds: f64) -> String {
    let mut out = format!("{:<39} {:>12} {:>12}\n", "ADDRESS", "RX", "TX");
    for row in rows {
        out.push_str(&format!(
            "{:<39} {:>12} {:>12}\n",
            row.address.to_string(),
            human_bits(row.rates.rx_bits_per_s),
            human_bits(row.rates.tx_bits_per_s),
        ));
    }
    let (rx, tx) = rows.iter().fold((0.0, 0.0), |(rx, tx), r| {
        (rx + r.rates.rx_bits_per_s, tx + r.rates.tx_bits_per_s)
    });
    out.push_str(&format!(
        "{:<39} {:>12} {:>12}\n({} address(es), {seconds:.1} s)",
        "TOTAL",
        human_bits(rx),
        human_bits(tx),
        rows.len()
    ));
    out
}

pub(super) fn table(rows: &[Row], seconds: f64) -> String {
    if terminal_width().is_some_and(|width| width < FULL_WIDTH) {
        return narrow_table(rows, seconds);
    }
    let mut out = format!(
        "{:<10} {:<12} {:<39} {:<8} {:>12} {:>9} {:>12} {:>9}\n",
        "IFACE", "LABEL", "ADDRESS", "ZONE", "RX", "RX pkt/s", "TX", "TX pkt/s"
    );
    let mut total = Rates::default();
    for row in rows {
        out.push_str(&format!(
            "{:<10} {:<12} {:<39} {:<8} {:>12} {:>9.1} {:>12} {:>9.1}\n",
            row.interface.as_deref().unwrap_or("-"),
            row.label.as_deref().unwrap_or("-"),
            row.address.to_string(),
            row.zone.as_deref().unwrap_or("-"),
            human_bits(row.rates.rx_bits_per_s),
            row.rates.rx_packets_per_s,
            human_bits(row.rates.tx_bits_per_s),
            row.rates.tx_packets_per_s,
        ));
        total.add(&row.rates);
    }
    out.push_str(&format!(
        "{:<72} {:>12} {:>9.1} {:>12} {:>9.1}\n({} address(es), rates over {seconds:.1} s)",
        "TOTAL",
        human_bits(total.rx_bits_per_s),
        total.rx_packets_per_s,
        human_bits(total.tx_bits_per_s),
        total.tx_packets_per_s,
        rows.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_fit_their_widths() {
        let rows = vec![Row {
            interface: Some("eth1".into()),
            label: Some("eth1:0".into()),
            address: "2001:db8:1234:5678:9abc:def0:1234:5678".parse().unwrap(),
            zone: Some("lab".into()),
            rates: Rates {
                rx_bits_per_s: 123.4e9,
                rx_packets_per_s: 99_999.9,
                tx_bits_per_s: 1.0,
                tx_packets_per_s: 0.5,
            },
        }];
        let widest = |text: &str| text.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(widest(&narrow_table(&rows, 1.0)) <= 80);
        let full = table(&rows, 1.0);
        assert!(widest(&full) <= FULL_WIDTH + 1, "{full}");
        assert!(
            full.contains("123.4 Gb/s") && full.contains("eth1:0"),
            "{full}"
        );
    }
}
