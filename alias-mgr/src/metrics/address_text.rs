//! The per-address families straight to exposition text, for `/metrics`.
//! Through the prometheus crate's model every sample is a `Metric` with two
//! `String`s per label, built and then encoded: at 10,000 addresses that is
//! 50,000 samples and most of a scrape's time. Written here, a sample is
//! one pass over a reused buffer. The text is byte for byte what the crate's
//! `TextEncoder` writes for the same family (a test holds them together);
//! the small families still go through the crate.

use std::{fmt::Write as _, net::IpAddr, ops::Range};

use super::{
    families::{Def, Family, Kind},
    scrape::Scrape,
};

impl Scrape {
    /// Writes samples `range` of a per-address family, after the family's
    /// `# HELP` and `# TYPE` lines when `first`.
    pub(super) fn write_address_piece(
        &self,
        family: Family,
        range: Range<usize>,
        first: bool,
        out: &mut String,
    ) {
        let def = family.def();
        let start = out.len();
        if first {
            header(&def, out);
        }
        let samples = out.len();
        match family {
            Family::AddressInfo => self.address_info_text(&def, range, out),
            _ => self.traffic_text(family, &def, range, out),
        }
        // The text format has no empty families.
        if out.len() == samples {
            out.truncate(start);
        }
    }

    fn address_info_text(&self, def: &Def, range: Range<usize>, out: &mut String) {
        for (ip, entry, state) in self.info_samples(range) {
            let mut sample = Sample::start(def, out);
            sample.label(&entry.device);
            sample.address(ip);
            sample.display(entry.prefix);
            sample.label(entry.label.as_deref().unwrap_or(""));
            sample.label(entry.zone.as_deref().unwrap_or(""));
            sample.label(state.as_str());
            sample.value(1.0);
        }
    }

    fn traffic_text(&self, family: Family, def: &Def, range: Range<usize>, out: &mut String) {
        for (ip, entry, value) in self.traffic_samples(family, range) {
            let mut sample = Sample::start(def, out);
            sample.label(entry.map(|e| &*e.device).unwrap_or(""));
            sample.address(ip);
            sample.label(entry.and_then(|e| e.label.as_deref()).unwrap_or(""));
            sample.label(entry.and_then(|e| e.zone.as_deref()).unwrap_or(""));
            // As the crate does: the value as an f64, printed by Display.
            sample.value(value as f64);
        }
    }
}

fn header(def: &Def, out: &mut String) {
    out.push_str("# HELP ");
    out.push_str(def.name);
    out.push(' ');
    escape_into(def.help, false, out);
    out.push_str("\n# TYPE ");
    out.push_str(def.name);
    out.push_str(match def.kind {
        Kind::Counter => " counter\n",
        Kind::Gauge => " gauge\n",
    });
}

/// One sample line being written: the labels in the family's order.
struct Sample<'a> {
    names: std::slice::Iter<'static, &'static str>,
    out: &'a mut String,
    separator: char,
}

impl<'a> Sample<'a> {
    fn start(def: &Def, out: &'a mut String) -> Self {
        out.push_str(def.name);
        Self {
            names: def.labels.iter(),
            out,
            separator: '{',
        }
    }

    fn name(&mut self) {
        let name = self.names.next().expect("a value per label name");
        self.out.push(self.separator);
        self.out.push_str(name);
        self.out.push_str("=\"");
        self.separator = ',';
    }

    fn label(&mut self, value: &str) {
        self.name();
        escape_into(value, true, self.out);
        self.out.push('"');
    }

    /// A value that needs no escaping (an address, a number).
    fn display(&mut self, value: impl std::fmt::Display) {
        self.name();
        let _ = write!(self.out, "{value}\"");
    }

    fn address(&mut self, ip: &IpAddr) {
        self.display(ip);
    }

    fn value(self, value: f64) {
        if self.separator == ',' {
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// The text format's escaping: backslash and newline, and in label values
/// the double quote.
fn escape_into(value: &str, quote: bool, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_help_are_escaped_as_the_text_format_wants() {
        let mut out = String::new();
        escape_into("a\\b\n\"c\"", true, &mut out);
        assert_eq!(out, r#"a\\b\n\"c\""#);
        out.clear();
        escape_into("say \"hi\"\n", false, &mut out);
        assert_eq!(out, "say \"hi\"\\n");
    }
}
