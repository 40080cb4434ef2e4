//! Drawing the full-screen view with ratatui: a title line, the host's
//! totals with a sparkline of the last minute, one row per alias address,
//! the zones' accept/drop rates, what is wrong, and the keys. Columns are
//! dropped, least needed first, to fit a narrow terminal.

use ratatui::{
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Borders, Cell, Paragraph, Row, Table},
    Frame,
};

use super::{
    rates::{human_bits, human_packets, Rates},
    sample::Row as AddressRow,
    view::{sparkline, View},
};

/// Below this the view says the terminal is too small instead.
pub(crate) const SMALLEST: (u16, u16) = (40, 10);

/// Colours, or none (NO_COLOR): then bold and reverse only.
#[derive(Clone, Copy)]
pub(crate) struct Theme {
    pub color: bool,
}

impl Theme {
    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    fn header(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    fn serious(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Column {
    Interface,
    Label,
    Address,
    Zone,
    Rx,
    RxPackets,
    Tx,
    TxPackets,
    LastMinute,
}

impl Column {
    fn title(self) -> &'static str {
        match self {
            Column::Interface => "IFACE",
            Column::Label => "LABEL",
            Column::Address => "ADDRESS",
            Column::Zone => "ZONE",
            Column::Rx => "RX",
            Column::RxPackets => "RX pkt/s",
            Column::Tx => "TX",
            Column::TxPackets => "TX pkt/s",
            Column::LastMinute => "LAST MINUTE",
        }
    }

    /// Numbers line up on the right.
    fn right_aligned(self) -> bool {
        matches!(
            self,
            Column::Rx | Column::RxPackets | Column::Tx | Column::TxPackets
        )
    }
}

/// The columns that fit `width`, in the order shown, with their widths:
/// kept most needed first (the address and its bit rates), the sparkline
/// taking what is left (up to a character a second of the minute).
fn columns(width: u16, address_width: u16) -> Vec<(Column, u16)> {
    let wanted = [
        (Column::Address, address_width),
        (Column::Rx, 11),
        (Column::Tx, 11),
        (Column::Interface, 10),
        (Column::LastMinute, 12),
        (Column::Zone, 8),
        (Column::RxPackets, 8),
        (Column::TxPackets, 8),
        (Column::Label, 12),
    ];
    let mut used = 0u16;
    let mut kept = Vec::new();
    for (column, column_width) in wanted {
        // One space between columns.
        let needs = column_width + u16::from(!kept.is_empty());
        if used + needs <= width {
            used += needs;
            kept.push((column, column_width));
        }
    }
    if let Some(minute) = kept.iter_mut().find(|(c, _)| *c == Column::LastMinute) {
        minute.1 = (minute.1 + (width - used)).min(60);
    }
    kept.sort();
    kept
}

fn cell_text(column: Column, row: &AddressRow, view: &View, width: u16) -> String {
    let or_dash = |text: &Option<String>| text.clone().unwrap_or_else(|| "-".into());
    match column {
        Column::Interface => or_dash(&row.interface),
        Column::Label => or_dash(&row.label),
        Column::Address => row.address.to_string(),
        Column::Zone => or_dash(&row.zone),
        Column::Rx => human_bits(row.rates.rx_bits_per_s),
        Column::RxPackets => human_packets(row.rates.rx_packets_per_s),
        Column::Tx => human_bits(row.rates.tx_bits_per_s),
        Column::TxPackets => human_packets(row.rates.tx_packets_per_s),
        Column::LastMinute => view
            .history_of(&row.address)
            .map(|h| sparkline(h, usize::from(width)))
            .unwrap_or_default(),
    }
}

fn cell(column: Column, text: String) -> Cell<'static> {
    if column.right_aligned() {
        Cell::from(Line::from(text).right_aligned())
    } else {
        Cell::from(text)
    }
}

pub(crate) fn draw(frame: &mut Frame, view: &mut View, theme: Theme) {
    let area = frame.area();
    if area.width < SMALLEST.0 || area.height < SMALLEST.1 {
        let text = format!(
            "terminal too small ({}x{}): top needs {}x{}; q quits",
            area.width, area.height, SMALLEST.0, SMALLEST.1
        );
        frame.render_widget(Paragraph::new(text), area);
        return;
    }
    // Three lines for problems, more on a tall screen.
    let room = usize::from((area.height / 6).max(3));
    let problems = view.sample.problems.len().clamp(1, room) as u16;
    let zones = if view.sample.zones.is_empty() {
        0
    } else {
        (view.sample.zones.len() as u16 + 2).min(area.height / 3)
    };
    let [title, totals, table, zone_pane, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(zones),
        Constraint::Length(problems),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(title_line(view)), title);
    draw_totals(frame, totals, view, theme);
    draw_addresses(frame, table, view, theme);
    if zones > 0 {
        draw_zones(frame, zone_pane, view, theme);
    }
    draw_problems(frame, status, view, theme);
    let help =
        "q quit  s/S sort  r reverse  i interface  z zone  c clear  p pause  ↑↓ PgUp PgDn scroll";
    frame.render_widget(Paragraph::new(help).style(theme.header()), keys);
}

fn title_line(view: &View) -> Line<'static> {
    let rows = view.rows().len();
    let arrow = if view.descending() { "▼" } else { "▲" };
    let mut text = format!(
        "alias-mgr top · {rows} of {} address(es) · every {:.1} s · sort: {} {arrow}",
        view.sample.rows.len(),
        view.interval.as_secs_f64(),
        view.sort.name(),
    );
    if let Some(interface) = &view.interface {
        text.push_str(&format!(" · interface {interface}"));
    }
    if let Some(zone) = &view.zone {
        text.push_str(&format!(" · zone {zone}"));
    }
    let mut spans = vec![Span::raw(text)];
    if view.paused {
        spans.push(Span::styled(
            "  PAUSED",
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
    }
    Line::from(spans)
}

fn draw_totals(frame: &mut Frame, area: Rect, view: &View, theme: Theme) {
    let mut total = Rates::default();
    for row in view.rows() {
        total.add(&row.rates);
    }
    let label_width = 32u16;
    let spark_width = usize::from(area.width.saturating_sub(label_width + 1)).min(60);
    let line = |name: &str, bits: f64, packets: f64, history| {
        Line::from(vec![
            Span::raw(format!(
                "{name} {:>12} {:>9} pkt/s  ",
                human_bits(bits),
                human_packets(packets)
            )),
            Span::styled(sparkline(history, spark_width), theme.fg(Color::Cyan)),
        ])
    };
    let lines = vec![
        line(
            "TOTAL RX",
            total.rx_bits_per_s,
            total.rx_packets_per_s,
            &view.rx_history,
        ),
        line(
            "TOTAL TX",
            total.tx_bits_per_s,
            total.tx_packets_per_s,
            &view.tx_history,
        ),
    ];
    frame.render_widget(Paragraph::new(lines), area);
}

fn draw_addresses(frame: &mut Frame, area: Rect, view: &mut View, theme: Theme) {
    let rows = view.rows();
    let address_width = rows
        .iter()
        .map(|r| r.address.to_string().len() as u16)
        .max()
        .unwrap_or(0)
        .clamp(15, 39);
    let columns = columns(area.width, address_width);
    let header = Row::new(columns.iter().map(|(c, _)| cell(*c, c.title().to_string())))
        .style(theme.header());
    // One line for the header.
    let page = usize::from(area.height.saturating_sub(1)).max(1);
    let scroll = view.scroll.min(rows.len().saturating_sub(page));
    let body: Vec<Row> = rows
        .iter()
        .skip(scroll)
        .take(page)
        .map(|row| {
            Row::new(
                columns
                    .iter()
                    .map(|(c, width)| cell(*c, cell_text(*c, row, view, *width))),
            )
        })
        .collect();
    let empty = rows.is_empty();
    let widths: Vec<Constraint> = columns
        .iter()
        .map(|(_, w)| Constraint::Length(*w))
        .collect();
    frame.render_widget(Table::new(body, widths).header(header), area);
    if empty {
        let why = if !view.measured {
            "measuring..."
        } else if view.sample.rows.is_empty() {
            "no address is counted: `alias-mgr apply` with counters on tracks the declared aliases"
        } else {
            "no address matches the filter (c clears it)"
        };
        let below = Rect {
            y: area.y + 1,
            height: 1,
            ..area
        };
        frame.render_widget(Paragraph::new(why).style(theme.fg(Color::Yellow)), below);
    }
    view.page = page;
    view.scroll = scroll;
}

fn draw_zones(frame: &mut Frame, area: Rect, view: &View, theme: Theme) {
    let titles = [
        "ZONE",
        "IN accept",
        "IN drop",
        "FWD accept",
        "FWD drop",
        "DROPPED",
    ];
    let header = Row::new(titles.map(|t| {
        if t == "ZONE" {
            Cell::from(t)
        } else {
            Cell::from(Line::from(t).right_aligned())
        }
    }))
    .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = view.sample.zones.iter().map(|zone| {
        let drop_style = |rate: f64| {
            if rate > 0.0 {
                theme.fg(Color::Yellow)
            } else {
                Style::new()
            }
        };
        let number = |rate: f64| Cell::from(Line::from(human_packets(rate)).right_aligned());
        Row::new(vec![
            Cell::from(zone.zone.clone()),
            number(zone.input_accept_packets_per_s),
            number(zone.input_drop_packets_per_s).style(drop_style(zone.input_drop_packets_per_s)),
            number(zone.forward_accept_packets_per_s),
            number(zone.forward_drop_packets_per_s)
                .style(drop_style(zone.forward_drop_packets_per_s)),
            Cell::from(Line::from(zone.dropped.to_string()).right_aligned()),
        ])
    });
    let widths = [12, 10, 10, 11, 10, 12].map(Constraint::Length);
    let block = Block::new()
        .borders(Borders::TOP)
        .title(" zones: new flows accepted and dropped a second, all drops since loaded ");
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}

fn draw_problems(frame: &mut Frame, area: Rect, view: &View, theme: Theme) {
    let problems = &view.sample.problems;
    if problems.is_empty() {
        let text = if view.measured {
            "no problem seen: the kernel matches the config, every declared address is counted"
        } else {
            ""
        };
        frame.render_widget(Paragraph::new(text).style(theme.fg(Color::Green)), area);
        return;
    }
    // The serious ones first; the last line says how many more there are.
    let mut sorted: Vec<_> = problems.iter().collect();
    sorted.sort_by_key(|p| !p.serious);
    let room = usize::from(area.height);
    let mut lines: Vec<Line> = sorted
        .iter()
        .take(room)
        .map(|p| {
            let style = if p.serious {
                theme.serious()
            } else {
                theme.fg(Color::Yellow)
            };
            Line::styled(fit(&format!("! {}", p.text), area.width), style)
        })
        .collect();
    if problems.len() > room {
        let more = problems.len() - room + 1;
        lines[room - 1] = Line::from(format!(
            "! and {more} more: `alias-mgr plan` and `alias-mgr check` list them"
        ));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// `text` cut to `width` characters, an ellipsis saying it was.
fn fit(text: &str, width: u16) -> String {
    let width = usize::from(width);
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
#[path = "screen_tests.rs"]
mod tests;
