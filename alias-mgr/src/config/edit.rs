//! Edits of the text itself that keep everything around them as written:
//! adding `[[alias]]` blocks after the last one and cutting one out with
//! the comments that describe it.

use std::{net::IpAddr, ops::Range};

use toml_edit::{ImDocument, Item, Table};

use crate::core::{model::AliasSpec, parse};

/// Start of the line holding byte `pos`.
fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

/// Just past the newline ending the line holding byte `pos`.
fn line_end(text: &str, pos: usize) -> usize {
    text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1)
}

/// Start of the line before the one starting at `start`.
fn prev_line(text: &str, start: usize) -> Option<usize> {
    (start > 0).then(|| line_start(text, start - 1))
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// New lines follow the file's convention.
fn newline(text: &str) -> &'static str {
    if text.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    }
}

pub(super) fn find_alias<'d>(
    doc: &'d ImDocument<&str>,
    interface: &str,
    ip: IpAddr,
) -> Option<&'d Table> {
    doc.get("alias")?.as_array_of_tables()?.iter().find(|t| {
        t.get("interface").and_then(Item::as_str) == Some(interface)
            && t.get("address")
                .and_then(Item::as_str)
                .and_then(|a| parse::parse_address(a).ok())
                .map(|(ip, _)| ip)
                == Some(ip)
    })
}

/// The text without the table at `span`. Comment lines right above the
/// header go too (they describe the entry) unless they open the file, where
/// they are more likely the file's own header. One blank line around the
/// hole goes as well, so removing what `add_alias` added restores the file.
pub(super) fn cut_table(text: &str, span: Range<usize>) -> String {
    let mut start = line_start(text, span.start);
    let mut above = start;
    while let Some(prev) = prev_line(text, above) {
        if !is_comment(&text[prev..above]) {
            break;
        }
        above = prev;
    }
    if above > 0 {
        start = above;
    }
    let mut end = line_end(text, span.end);
    let prev_blank = prev_line(text, start).map(|p| is_blank(&text[p..start]));
    if end < text.len() && is_blank(&text[end..line_end(text, end)]) && prev_blank != Some(false) {
        end = line_end(text, end);
    } else if end == text.len() && prev_blank == Some(true) {
        start = prev_line(text, start).unwrap_or(start);
    }
    format!("{}{}", &text[..start], &text[end..])
}

/// Where new aliases go: after the last `[[alias]]` table (and the comment
/// lines right below it, which are usually its commented-out keys), or at
/// the end of the file when there is none.
pub(super) fn alias_insertion_point(text: &str, doc: &ImDocument<&str>) -> usize {
    let last = doc
        .get("alias")
        .and_then(Item::as_array_of_tables)
        .and_then(|a| a.iter().last())
        .and_then(Table::span);
    let Some(span) = last else {
        return text.len();
    };
    let at = line_end(text, span.end);
    let mut pos = at;
    while pos < text.len() && is_comment(&text[pos..line_end(text, pos)]) {
        pos = line_end(text, pos);
    }
    // A comment block that runs into the next header belongs to that header.
    if pos > at && (pos == text.len() || is_blank(&text[pos..line_end(text, pos)])) {
        pos
    } else {
        at
    }
}

/// `blocks` inserted at `at`, each preceded by a blank line (except at the
/// very top) and followed by one when more text follows.
pub(super) fn insert_blocks(text: &str, at: usize, blocks: &[String]) -> String {
    let nl = newline(text);
    let (before, after) = text.split_at(at);
    let mut out =
        String::with_capacity(text.len() + blocks.iter().map(|b| b.len() + 2).sum::<usize>());
    out.push_str(before);
    if !before.is_empty() && !before.ends_with('\n') {
        out.push_str(nl);
    }
    for block in blocks {
        let ends_blank = prev_line(&out, out.len()).is_some_and(|p| is_blank(&out[p..]));
        if !out.trim().is_empty() && !ends_blank {
            out.push_str(nl);
        }
        out.push_str(&block.replace('\n', nl));
    }
    if !after.is_empty() && !is_blank(&after[..line_end(after, 0)]) {
        out.push_str(nl);
    }
    out.push_str(after);
    out
}

/// One `[[alias]]` table, keys in the documented order, empty ones left out.
pub(super) fn alias_block(alias: &AliasSpec) -> String {
    let mut table = Table::new();
    table.insert("interface", toml_edit::value(alias.interface.as_str()));
    table.insert("address", toml_edit::value(alias.address.to_string()));
    if let Some(label) = &alias.label {
        table.insert("label", toml_edit::value(label.as_str()));
    }
    if let Some(zone) = &alias.zone {
        table.insert("zone", toml_edit::value(zone.as_str()));
    }
    if !alias.routes.is_empty() {
        let routes: toml_edit::Array = alias.routes.iter().map(ToString::to_string).collect();
        table.insert("routes", toml_edit::value(routes));
    }
    let mut tables = toml_edit::ArrayOfTables::new();
    tables.push(table);
    let mut doc = toml_edit::DocumentMut::new();
    doc.insert("alias", Item::ArrayOfTables(tables));
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use crate::config::test_util::*;

    #[test]
    fn add_alias_appends_after_the_last_alias_and_keeps_comments() {
        let mut file = parse(EXAMPLE).unwrap();
        let mut new = alias("eth2", "10.50.0.5/16");
        new.label = Some("eth2:0".into());
        new.zone = Some("lab".into());
        new.routes = vec!["10.60.0.0/16@10.50.0.254".parse().unwrap()];
        file.add_alias(&new).unwrap();
        let text = file.render();
        for line in EXAMPLE.lines() {
            assert!(text.contains(line), "lost {line:?} in\n{text}");
        }
        let block = "[[alias]]\ninterface = \"eth2\"\naddress = \"10.50.0.5/16\"\nlabel = \"eth2:0\"\nzone = \"lab\"\n\
                     routes = [\"10.60.0.0/16@10.50.0.254\"]\n";
        let expected = EXAMPLE.replace(
            "# v6 twin\n\n# zones",
            &format!("# v6 twin\n\n{block}\n# zones"),
        );
        assert_eq!(text, expected);
        assert_eq!(file.config().aliases.len(), 3);
        assert_eq!(file.config().aliases[2], new);
    }

    #[test]
    fn add_alias_to_an_empty_file() {
        let mut file = parse("").unwrap();
        file.add_alias(&alias("eth1", "10.0.0.1/8")).unwrap();
        assert_eq!(
            file.render(),
            "[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\n"
        );
        file.add_alias(&alias("eth1", "10.0.0.2/8")).unwrap();
        assert_eq!(file.config().aliases.len(), 2);
        assert!(file.render().ends_with(
            "10.0.0.1/8\"\n\n[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.2/8\"\n"
        ));
    }

    #[test]
    fn add_alias_rejects_invalid_results_without_changing_anything() {
        let mut file = parse(EXAMPLE).unwrap();
        let before = file.clone();
        let err = file
            .add_alias(&alias("eth3", "192.168.0.1/24"))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("address 192.168.0.1 is already declared at line 10 (on eth1)"),
            "{err}"
        );
        let mut zoned = alias("eth3", "192.168.9.1/24");
        zoned.zone = Some("wan".into());
        let err = file.add_alias(&zoned).unwrap_err();
        assert!(
            err.to_string().contains("no [zone.wan] table exists"),
            "{err}"
        );
        assert_eq!(file.render(), before.render());
        assert_eq!(file.config(), before.config());
    }

    #[test]
    fn remove_alias_keeps_everything_else() {
        let mut file = parse(EXAMPLE).unwrap();
        assert!(
            !file.remove_alias("eth2", ip("192.168.0.1")),
            "wrong interface"
        );
        assert!(!file.remove_alias("eth1", ip("192.168.0.9")));
        assert_eq!(file.render(), EXAMPLE);

        assert!(file.remove_alias("eth1", ip("192.168.0.1")));
        let text = file.render();
        let start = EXAMPLE.find("# the lab network").unwrap();
        let end = EXAMPLE
            .find("[[alias]]\ninterface = \"eth1\"\naddress = \"2001")
            .unwrap();
        assert_eq!(text, format!("{}{}", &EXAMPLE[..start], &EXAMPLE[end..]));
        assert!(
            text.contains("# alias-mgr desired state")
                && text.contains("# v6 twin")
                && text.contains("# zones")
        );
        assert_eq!(file.config().aliases.len(), 1);

        assert!(file.remove_alias("eth1", ip("2001:db8::1")));
        assert!(file.config().aliases.is_empty());
        assert!(file.render().contains(
            "promote_secondaries = false   # managed by the distro\n\n# zones\n[zone.lab]"
        ));
    }

    #[test]
    fn remove_first_alias_keeps_the_file_header() {
        let text = "# my aliases\n[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\n\n\
                    # second\n[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.2/8\"\n";
        let mut file = parse(text).unwrap();
        assert!(file.remove_alias("eth1", ip("10.0.0.1")));
        assert_eq!(
            file.render(),
            "# my aliases\n\n# second\n[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.2/8\"\n"
        );
        let mut file = parse(text).unwrap();
        assert!(file.remove_alias("eth1", ip("10.0.0.2")));
        assert_eq!(
            file.render(),
            "# my aliases\n[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\n"
        );
    }

    #[test]
    fn add_then_remove_restores_the_file_exactly() {
        let at_end =
            "# header\n\n[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\" # main\n";
        let commented = "[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\n# routes = []\n\n[zone.lab]\n";
        for original in [
            "",
            "# only a comment\n",
            "[settings]\n",
            EXAMPLE,
            at_end,
            commented,
        ] {
            let mut file = parse(original).unwrap();
            let mut new = alias("eth9", "10.99.0.1/24");
            new.label = Some("eth9:0".into());
            new.routes = vec!["10.98.0.0/16".parse().unwrap()];
            file.add_alias(&new).unwrap();
            assert_ne!(file.render(), original);
            assert!(file.remove_alias("eth9", ip("10.99.0.1")));
            assert_eq!(file.render(), original);
        }
    }

    #[test]
    fn added_aliases_follow_commented_keys_of_the_last_one() {
        let text = "[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\n# routes = []\n\n[zone.lab]\n";
        let mut file = parse(text).unwrap();
        file.add_alias(&alias("eth2", "10.0.0.2/8")).unwrap();
        assert_eq!(
            file.render(),
            "[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\n# routes = []\n\n\
             [[alias]]\ninterface = \"eth2\"\naddress = \"10.0.0.2/8\"\n\n[zone.lab]\n"
        );
        // A comment running into the next header stays with that header.
        let text =
            "[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\n# zones:\n[zone.lab]\n";
        let mut file = parse(text).unwrap();
        file.add_alias(&alias("eth2", "10.0.0.2/8")).unwrap();
        assert!(
            file.render()
                .contains("10.0.0.2/8\"\n\n# zones:\n[zone.lab]\n"),
            "{}",
            file.render()
        );
    }

    #[test]
    fn crlf_files_stay_crlf() {
        let text = "# windows\r\n[[alias]]\r\ninterface = \"eth1\"\r\naddress = \"10.0.0.1/8\"\r\n";
        let mut file = parse(text).unwrap();
        file.add_alias(&alias("eth1", "10.0.0.2/8")).unwrap();
        let out = file.render();
        assert_eq!(
            out.matches('\n').count(),
            out.matches("\r\n").count(),
            "{out:?}"
        );
        assert!(out.starts_with(text));
        assert!(file.remove_alias("eth1", ip("10.0.0.2")));
        assert_eq!(file.render(), text);
    }

    #[test]
    fn merge_aliases_is_idempotent_and_atomic() {
        let mut file = parse(EXAMPLE).unwrap();
        let new = [
            alias("eth2", "10.70.0.1/16"),
            alias("eth1", "192.168.0.1/24"),
            alias("eth2", "10.70.0.1/16"),
        ];
        assert_eq!(file.merge_aliases(&new).unwrap(), 1);
        let once = file.render();
        assert_eq!(file.config().aliases.len(), 3);
        assert_eq!(file.merge_aliases(&new).unwrap(), 0);
        assert_eq!(file.render(), once);

        let two = [alias("eth3", "10.71.0.1/16"), alias("eth3", "10.72.0.1/16")];
        assert_eq!(file.merge_aliases(&two).unwrap(), 2);
        assert_eq!(file.config().aliases.len(), 5);
        assert!(file.render().contains(
            "10.71.0.1/16\"\n\n[[alias]]\ninterface = \"eth3\"\naddress = \"10.72.0.1/16\"\n"
        ));

        // 192.168.0.1 on another interface clashes: nothing is added.
        let before = file.render();
        let clash = [
            alias("eth4", "10.73.0.1/16"),
            alias("eth4", "192.168.0.1/24"),
        ];
        assert!(file.merge_aliases(&clash).is_err());
        assert_eq!(file.render(), before);
        assert_eq!(file.config().aliases.len(), 5);
    }

    #[test]
    fn add_alias_applies_the_address_and_label_rules() {
        let mut file = parse("").unwrap();
        let mut bad = alias("eth1", "192.168.0.1/24");
        bad.label = Some("web".into());
        let Err(ConfigError::NewEntry { message, .. }) = file.add_alias(&bad) else {
            panic!("label without the interface prefix accepted");
        };
        assert!(message.contains("use eth1:web"), "{message}");
        assert!(file.add_alias(&alias("eth1", "192.168.0.0/24")).is_err());
        assert_eq!(file.render(), "");
    }
}
