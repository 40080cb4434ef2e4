//! The screen drawn into ratatui's test backend, read back as text.

use std::time::Duration;

use ratatui::{backend::TestBackend, style::Color, Terminal};

use super::*;
use crate::cli::top::{
    rates::{Rates, ZoneRates},
    sample::{Problem, Row as AddressRow, Sample},
    view::Command,
};

fn address(ip: &str, zone: Option<&str>, rx: f64) -> AddressRow {
    AddressRow {
        interface: Some("eth1".into()),
        label: Some("eth1:0".into()),
        address: ip.parse().unwrap(),
        zone: zone.map(Into::into),
        rates: Rates {
            rx_bits_per_s: rx,
            rx_packets_per_s: rx / 8000.0,
            tx_bits_per_s: rx / 2.0,
            tx_packets_per_s: rx / 16000.0,
        },
    }
}

fn lab_view() -> View {
    let mut view = View::new(Duration::from_secs(1), None);
    for step in 0..5 {
        view.push(Sample {
            seconds: 1.0,
            rows: vec![
                address("192.0.2.1", Some("lab"), 1e3 * f64::from(step)),
                address("2001:db8::1", None, 20e6),
            ],
            zones: vec![ZoneRates {
                zone: "lab".into(),
                input_accept_packets_per_s: 12.0,
                input_drop_packets_per_s: 3.0,
                dropped: 41,
                ..ZoneRates::default()
            }],
            problems: vec![
                Problem {
                    serious: false,
                    text: "pending: 192.0.2.9 waits for eth9".into(),
                },
                Problem {
                    serious: true,
                    text: "conflict: 192.0.2.7 is on eth2".into(),
                },
            ],
        });
    }
    view
}

/// Draws `view` on a `width` x `height` screen; the text and the buffer.
fn screen(
    view: &mut View,
    width: u16,
    height: u16,
    color: bool,
) -> (Vec<String>, Terminal<TestBackend>) {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| draw(frame, view, Theme { color }))
        .unwrap();
    let buffer = terminal.backend().buffer().clone();
    let lines = (0..height)
        .map(|y| {
            (0..width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect();
    (lines, terminal)
}

fn line_of(lines: &[String], text: &str) -> usize {
    lines
        .iter()
        .position(|l| l.contains(text))
        .unwrap_or_else(|| panic!("{text:?} not on screen:\n{}", lines.join("\n")))
}

#[test]
fn the_busiest_comes_first_with_totals_zones_problems_and_keys() {
    let mut view = lab_view();
    let (lines, _) = screen(&mut view, 140, 24, true);
    let text = lines.join("\n");
    assert!(
        line_of(&lines, "2001:db8::1") < line_of(&lines, "192.0.2.1"),
        "{text}"
    );
    assert!(
        text.contains("20.0 Mb/s") && text.contains("LAST MINUTE"),
        "{text}"
    );
    // Totals: 20 Mb/s + 4 Kb/s received.
    assert!(
        lines[1].contains("TOTAL RX") && lines[1].contains("20.0 Mb/s"),
        "{text}"
    );
    // The rising address's sparkline ends in a full block.
    assert!(
        lines[line_of(&lines, "192.0.2.1")]
            .trim_end()
            .ends_with('█'),
        "{text}"
    );
    let zone = lines.iter().find(|l| l.starts_with("lab ")).unwrap();
    assert!(
        zone.contains("12.0") && zone.contains("3.0") && zone.trim_end().ends_with("41"),
        "{text}"
    );
    // The serious problem first.
    assert!(
        line_of(&lines, "conflict:") < line_of(&lines, "pending:"),
        "{text}"
    );
    assert!(lines[23].contains("q quit"), "{text}");
}

#[test]
fn a_narrow_terminal_keeps_the_address_and_its_rates() {
    let mut view = lab_view();
    let (lines, _) = screen(&mut view, 60, 20, true);
    let text = lines.join("\n");
    let header = &lines[line_of(&lines, "ADDRESS")];
    assert!(header.contains("RX") && header.contains("TX"), "{text}");
    assert!(
        !header.contains("LABEL") && !header.contains("LAST MINUTE"),
        "{text}"
    );
    assert!(lines.iter().all(|l| l.chars().count() == 60));
    // A problem too long for the line says it goes on.
    view.sample.problems[0].text = "x".repeat(100);
    let (lines, _) = screen(&mut view, 60, 20, true);
    assert!(
        lines.iter().any(|l| l.ends_with("xxx…")),
        "{}",
        lines.join("\n")
    );
    let (lines, _) = screen(&mut view, 30, 6, true);
    assert!(lines.join("").contains("terminal too small (30x6)"));
}

#[test]
fn no_color_leaves_every_cell_in_the_default_colours() {
    let mut view = lab_view();
    let (_, terminal) = screen(&mut view, 140, 24, false);
    let buffer = terminal.backend().buffer();
    assert!(buffer
        .content()
        .iter()
        .all(|cell| cell.fg == Color::Reset && cell.bg == Color::Reset));
    let (_, terminal) = screen(&mut view, 140, 24, true);
    assert!(terminal
        .backend()
        .buffer()
        .content()
        .iter()
        .any(|c| c.fg == Color::Red));
}

#[test]
fn scrolling_stops_at_the_last_page_and_filters_say_why_nothing_shows() {
    let mut view = View::new(Duration::from_secs(1), None);
    let rows = (1..=50)
        .map(|n| address(&format!("10.0.0.{n}"), None, f64::from(n)))
        .collect();
    view.push(Sample {
        rows,
        ..Sample::default()
    });
    view.command(Command::End);
    let (lines, _) = screen(&mut view, 140, 20, true);
    assert!(
        lines.join("\n").contains("10.0.0.1 "),
        "the least busy is last"
    );
    assert_eq!(view.scroll, 50 - view.page);
    view.interface = Some("eth7".into());
    let (lines, _) = screen(&mut view, 140, 20, true);
    assert!(lines.join("\n").contains("no address matches the filter"));
}
