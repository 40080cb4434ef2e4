//! The full-screen view's state, free of any terminal: the latest sample,
//! the last minute of each address's rate, the sort, the filters, pause
//! and scrolling, and what each key does to them. Pure: unit-tested.

use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    net::IpAddr,
    time::Duration,
};

use super::{rates::Rates, sample::Row, sample::Sample};

/// How much history the sparklines show.
const HISTORY: Duration = Duration::from_secs(60);

/// What the rows are ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortKey {
    /// RX + TX bits per second (the default: the busiest first).
    Total,
    Rx,
    Tx,
    RxPackets,
    TxPackets,
    Address,
    Interface,
    Zone,
}

impl SortKey {
    const ALL: [SortKey; 8] = [
        SortKey::Total,
        SortKey::Rx,
        SortKey::Tx,
        SortKey::RxPackets,
        SortKey::TxPackets,
        SortKey::Address,
        SortKey::Interface,
        SortKey::Zone,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Total => "total bits",
            SortKey::Rx => "RX bits",
            SortKey::Tx => "TX bits",
            SortKey::RxPackets => "RX packets",
            SortKey::TxPackets => "TX packets",
            SortKey::Address => "address",
            SortKey::Interface => "interface",
            SortKey::Zone => "zone",
        }
    }

    fn step(self, by: isize) -> SortKey {
        let at = Self::ALL.iter().position(|k| *k == self).unwrap_or(0) as isize;
        let len = Self::ALL.len() as isize;
        Self::ALL[(at + by).rem_euclid(len) as usize]
    }

    /// Rates read best from the largest down, names from A to Z.
    fn busiest_first(self) -> bool {
        !matches!(self, SortKey::Address | SortKey::Interface | SortKey::Zone)
    }
}

/// What a key asks of the view (the terminal's keys are mapped to these
/// where the terminal is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    Quit,
    NextSort,
    PreviousSort,
    Reverse,
    NextInterface,
    NextZone,
    ClearFilters,
    Pause,
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Go,
    Quit,
}

pub(crate) struct View {
    pub interval: Duration,
    pub sample: Sample,
    /// Whether any sample has arrived (until then: "measuring").
    pub measured: bool,
    pub sort: SortKey,
    /// Against the sort's natural direction.
    pub reversed: bool,
    pub interface: Option<String>,
    pub zone: Option<String>,
    pub paused: bool,
    /// The first row shown; clamped to the rows when drawn.
    pub scroll: usize,
    /// How many rows a page is (set by the last draw).
    pub page: usize,
    capacity: usize,
    history: HashMap<IpAddr, VecDeque<f64>>,
    pub rx_history: VecDeque<f64>,
    pub tx_history: VecDeque<f64>,
}

impl View {
    pub fn new(interval: Duration, interface: Option<String>) -> Self {
        let capacity = (HISTORY.as_secs_f64() / interval.as_secs_f64()).ceil() as usize;
        Self {
            interval,
            sample: Sample::default(),
            measured: false,
            sort: SortKey::Total,
            reversed: false,
            interface,
            zone: None,
            paused: false,
            scroll: 0,
            page: 10,
            capacity: capacity.clamp(2, 600),
            history: HashMap::new(),
            rx_history: VecDeque::new(),
            tx_history: VecDeque::new(),
        }
    }

    /// Takes a new measurement, unless paused (the screen holds still and
    /// the samples of the pause are not kept).
    pub fn push(&mut self, sample: Sample) {
        if self.paused {
            return;
        }
        let capacity = self.capacity;
        let keep = |history: &mut VecDeque<f64>, value: f64| {
            if history.len() == capacity {
                history.pop_front();
            }
            history.push_back(value);
        };
        let mut total = Rates::default();
        let mut seen = BTreeSet::new();
        for row in &sample.rows {
            total.add(&row.rates);
            seen.insert(row.address);
            keep(
                self.history.entry(row.address).or_default(),
                row.rates.bits(),
            );
        }
        // An address no longer counted takes its history with it.
        self.history.retain(|ip, _| seen.contains(ip));
        keep(&mut self.rx_history, total.rx_bits_per_s);
        keep(&mut self.tx_history, total.tx_bits_per_s);
        self.sample = sample;
        self.measured = true;
    }

    /// The last minute of `address`'s bit rate (RX + TX), oldest first.
    pub fn history_of(&self, address: &IpAddr) -> Option<&VecDeque<f64>> {
        self.history.get(address)
    }

    pub fn command(&mut self, command: Command) -> Flow {
        match command {
            Command::Quit => return Flow::Quit,
            Command::NextSort => self.sort = self.sort.step(1),
            Command::PreviousSort => self.sort = self.sort.step(-1),
            Command::Reverse => self.reversed = !self.reversed,
            Command::NextInterface => {
                self.interface = next_choice(&self.interfaces(), self.interface.take())
            }
            Command::NextZone => self.zone = next_choice(&self.zones(), self.zone.take()),
            Command::ClearFilters => {
                self.interface = None;
                self.zone = None;
            }
            Command::Pause => self.paused = !self.paused,
            Command::Up => self.scroll = self.scroll.saturating_sub(1),
            Command::Down => self.scroll += 1,
            Command::PageUp => self.scroll = self.scroll.saturating_sub(self.page),
            Command::PageDown => self.scroll += self.page,
            Command::Home => self.scroll = 0,
            Command::End => self.scroll = usize::MAX,
        }
        if matches!(
            command,
            Command::NextSort
                | Command::PreviousSort
                | Command::Reverse
                | Command::NextInterface
                | Command::NextZone
                | Command::ClearFilters
        ) {
            self.scroll = 0;
        }
        Flow::Go
    }

    /// The interfaces the rows are on, for the interface filter.
    fn interfaces(&self) -> Vec<String> {
        let names: BTreeSet<&String> = self
            .sample
            .rows
            .iter()
            .filter_map(|r| r.interface.as_ref())
            .collect();
        names.into_iter().cloned().collect()
    }

    /// The zones of the rows and of the zone pane, for the zone filter.
    fn zones(&self) -> Vec<String> {
        let rows = self.sample.rows.iter().filter_map(|r| r.zone.as_ref());
        let panes = self.sample.zones.iter().map(|z| &z.zone);
        let names: BTreeSet<&String> = rows.chain(panes).collect();
        names.into_iter().cloned().collect()
    }

    /// Whether the rows run from the largest (or Z) down.
    pub fn descending(&self) -> bool {
        self.sort.busiest_first() != self.reversed
    }

    /// The rows the filters let through, in the chosen order.
    pub fn rows(&self) -> Vec<&Row> {
        let mut rows: Vec<&Row> = self
            .sample
            .rows
            .iter()
            .filter(|r| {
                self.interface
                    .as_ref()
                    .is_none_or(|only| r.interface.as_ref() == Some(only))
            })
            .filter(|r| {
                self.zone
                    .as_ref()
                    .is_none_or(|only| r.zone.as_ref() == Some(only))
            })
            .collect();
        let sort = self.sort;
        let descending = self.descending();
        rows.sort_by(|a, b| {
            let order = compare(sort, a, b);
            let order = if descending { order.reverse() } else { order };
            // Ties by address, always A to Z: rows do not jump about.
            order.then(a.address.cmp(&b.address))
        });
        rows
    }
}

fn compare(sort: SortKey, a: &Row, b: &Row) -> std::cmp::Ordering {
    let (x, y) = (&a.rates, &b.rates);
    match sort {
        SortKey::Total => x.bits().total_cmp(&y.bits()),
        SortKey::Rx => x.rx_bits_per_s.total_cmp(&y.rx_bits_per_s),
        SortKey::Tx => x.tx_bits_per_s.total_cmp(&y.tx_bits_per_s),
        SortKey::RxPackets => x.rx_packets_per_s.total_cmp(&y.rx_packets_per_s),
        SortKey::TxPackets => x.tx_packets_per_s.total_cmp(&y.tx_packets_per_s),
        SortKey::Address => a.address.cmp(&b.address),
        SortKey::Interface => a.interface.cmp(&b.interface),
        SortKey::Zone => a.zone.cmp(&b.zone),
    }
}

/// The filter after `current`: none, then each choice in turn, then none.
fn next_choice(choices: &[String], current: Option<String>) -> Option<String> {
    match current {
        None => choices.first().cloned(),
        Some(now) => {
            let at = choices.iter().position(|c| *c == now)?;
            choices.get(at + 1).cloned()
        }
    }
}

/// `samples` as a line of `width` block characters, oldest left, each
/// character the largest sample of its share; scaled to the largest of
/// all, with a space for nothing at all and at least the lowest block for
/// any traffic (an idle address reads as idle, a trickle as a trickle).
pub(crate) fn sparkline(samples: &VecDeque<f64>, width: usize) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if width == 0 || samples.is_empty() {
        return " ".repeat(width);
    }
    let per_char = samples.len().div_ceil(width);
    let shares: Vec<f64> = samples
        .iter()
        .copied()
        .collect::<Vec<f64>>()
        .chunks(per_char)
        .map(|share| share.iter().copied().fold(0.0, f64::max))
        .collect();
    let top = shares.iter().copied().fold(0.0, f64::max);
    let mut line = " ".repeat(width.saturating_sub(shares.len()));
    for share in shares {
        if share <= 0.0 || top <= 0.0 {
            line.push(' ');
        } else {
            let level = ((share / top) * 8.0).ceil() as usize;
            line.push(BLOCKS[level.clamp(1, 8) - 1]);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(address: &str, interface: &str, zone: Option<&str>, rx: f64, tx: f64) -> Row {
        Row {
            interface: Some(interface.into()),
            label: None,
            address: address.parse().unwrap(),
            zone: zone.map(Into::into),
            rates: Rates {
                rx_bits_per_s: rx,
                rx_packets_per_s: rx / 1000.0,
                tx_bits_per_s: tx,
                tx_packets_per_s: tx / 1000.0,
            },
        }
    }

    fn view_of(rows: Vec<Row>) -> View {
        let mut view = View::new(Duration::from_secs(1), None);
        view.push(Sample {
            seconds: 1.0,
            rows,
            ..Sample::default()
        });
        view
    }

    fn addresses(view: &View) -> Vec<String> {
        view.rows().iter().map(|r| r.address.to_string()).collect()
    }

    fn lab() -> View {
        view_of(vec![
            row("192.0.2.1", "eth1", Some("lab"), 100.0, 5_000.0),
            row("192.0.2.2", "eth1", None, 9_000.0, 0.0),
            row("198.51.100.1", "eth2", Some("dmz"), 0.0, 0.0),
        ])
    }

    #[test]
    fn sort_keys_cycle_both_ways_and_reverse() {
        let mut view = lab();
        assert_eq!(addresses(&view), ["192.0.2.2", "192.0.2.1", "198.51.100.1"]);
        view.command(Command::NextSort);
        assert_eq!(view.sort, SortKey::Rx);
        view.command(Command::NextSort);
        assert_eq!(addresses(&view)[0], "192.0.2.1", "by TX");
        view.command(Command::PreviousSort);
        view.command(Command::PreviousSort);
        view.command(Command::PreviousSort);
        assert_eq!(view.sort, SortKey::Zone, "wraps around");
        view.command(Command::NextSort);
        view.command(Command::PreviousSort);
        view.command(Command::PreviousSort);
        assert_eq!(view.sort, SortKey::Interface);
        view.command(Command::PreviousSort);
        assert_eq!(view.sort, SortKey::Address);
        assert_eq!(addresses(&view), ["192.0.2.1", "192.0.2.2", "198.51.100.1"]);
        view.command(Command::Reverse);
        assert_eq!(addresses(&view), ["198.51.100.1", "192.0.2.2", "192.0.2.1"]);
    }

    #[test]
    fn filters_step_through_interfaces_and_zones_then_back_to_all() {
        let mut view = lab();
        view.command(Command::NextInterface);
        assert_eq!(view.interface.as_deref(), Some("eth1"));
        assert_eq!(view.rows().len(), 2);
        view.command(Command::NextInterface);
        assert_eq!(addresses(&view), ["198.51.100.1"]);
        view.command(Command::NextInterface);
        assert_eq!(view.interface, None);
        view.command(Command::NextZone);
        assert_eq!(view.zone.as_deref(), Some("dmz"));
        assert_eq!(addresses(&view), ["198.51.100.1"]);
        view.command(Command::NextInterface);
        assert!(view.rows().is_empty(), "eth1 has no dmz address");
        view.command(Command::ClearFilters);
        assert_eq!(view.rows().len(), 3);
    }

    #[test]
    fn pause_holds_the_screen_and_history_keeps_a_minute() {
        let mut view = View::new(Duration::from_millis(500), None);
        for n in 0..200 {
            view.push(Sample {
                rows: vec![row("192.0.2.1", "eth1", None, n as f64, 0.0)],
                ..Sample::default()
            });
        }
        let history = view.history_of(&"192.0.2.1".parse().unwrap()).unwrap();
        assert_eq!(history.len(), 120, "60 s at 500 ms");
        assert_eq!(history.back(), Some(&199.0));
        view.command(Command::Pause);
        view.push(Sample::default());
        assert_eq!(view.rows().len(), 1, "paused: still the old sample");
        view.command(Command::Pause);
        view.push(Sample::default());
        assert!(view.rows().is_empty());
        assert!(view.history_of(&"192.0.2.1".parse().unwrap()).is_none());
    }

    #[test]
    fn sparklines_scale_to_their_peak_and_keep_idle_blank() {
        let samples: VecDeque<f64> = [0.0, 1.0, 4.0, 8.0].into_iter().collect();
        assert_eq!(sparkline(&samples, 6), "   ▁▄█");
        // Eight samples into four characters: the larger of each pair.
        let samples: VecDeque<f64> = [0.0, 0.0, 2.0, 1.0, 0.0, 8.0, 8.0, 0.0].into();
        assert_eq!(sparkline(&samples, 4), " ▂██");
        assert_eq!(sparkline(&VecDeque::from([0.0, 0.0]), 3), "   ");
    }
}
