//! The YAML of `ckplan export --format yaml` (issue 19): block style like serde_yaml's,
//! but read the same by YAML 1.1 tools (PyYAML, Ruby's Psych, many CI linters) as by ckplan.
//! A string is written plain only when no YAML version could read it as anything else (it
//! starts with a letter, `_` or `/`, holds only letters, digits, ` `, `_`, `.`, `/` and `-`,
//! and is none of YAML 1.1's `yes`/`no`/`on`/`off`/`y`/`n` nor `true`/`false`/`null`);
//! every other string is double-quoted with escapes for what is not printable. A float
//! always has a `.` (YAML 1.1 reads `1e-300` as a string).

use serde_json::Value as Json;

/// `records` as a YAML sequence.
pub fn render(records: &[Json]) -> String {
    if records.is_empty() {
        return "[]\n".to_owned();
    }
    let mut out = String::new();
    sequence(&mut out, records, 0);
    out
}

fn sequence(out: &mut String, items: &[Json], indent: usize) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match item {
            Json::Object(map) if !map.is_empty() => {
                // The first entry on the dash's line, the others under it.
                let mut nested = String::new();
                mapping(&mut nested, map, indent + 2);
                out.push(' ');
                out.push_str(&nested[indent + 2..]);
            }
            Json::Array(list) if !list.is_empty() => {
                let mut nested = String::new();
                sequence(&mut nested, list, indent + 2);
                out.push(' ');
                out.push_str(&nested[indent + 2..]);
            }
            scalar => {
                out.push(' ');
                out.push_str(&inline(scalar));
                out.push('\n');
            }
        }
    }
}

fn mapping(out: &mut String, map: &serde_json::Map<String, Json>, indent: usize) {
    for (key, value) in map {
        out.push_str(&" ".repeat(indent));
        out.push_str(&string(key));
        out.push(':');
        match value {
            Json::Object(nested) if !nested.is_empty() => {
                out.push('\n');
                mapping(out, nested, indent + 2);
            }
            Json::Array(list) if !list.is_empty() => {
                out.push('\n');
                sequence(out, list, indent);
            }
            scalar => {
                out.push(' ');
                out.push_str(&inline(scalar));
                out.push('\n');
            }
        }
    }
}

/// A scalar or an empty collection on one line.
fn inline(value: &Json) -> String {
    match value {
        Json::Null => "null".to_owned(),
        Json::Bool(b) => b.to_string(),
        Json::Number(number) => {
            let text = number.to_string();
            match text.find(['e', 'E']) {
                Some(at) if number.is_f64() && !text[..at].contains('.') => {
                    format!("{}.0{}", &text[..at], &text[at..])
                }
                _ => text,
            }
        }
        Json::String(text) => string(text),
        Json::Array(_) => "[]".to_owned(),
        Json::Object(_) => "{}".to_owned(),
    }
}

/// Words some YAML version reads as a boolean or null when plain (compared ignoring case).
const SPECIAL_WORDS: [&str; 11] = [
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf",
];

fn string(text: &str) -> String {
    let plain = text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '/')
        && !text.ends_with(' ')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '.' | '/' | '-'))
        && !SPECIAL_WORDS
            .iter()
            .any(|word| word.eq_ignore_ascii_case(text));
    if plain {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if printable(c) => out.push(c),
            c if (c as u32) <= 0xFF => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if (c as u32) <= 0xFFFF => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// YAML's printable set (1.2 `c-printable`, within 1.1's), less the line breaks U+0085,
/// U+2028 and U+2029 and the byte order mark, which are written escaped.
fn printable(c: char) -> bool {
    matches!(c as u32, 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TRICKY: [&str; 30] = [
        "yes",
        "No",
        "ON",
        "off",
        "y",
        "N",
        "true",
        "False",
        "null",
        "~",
        "",
        " lead",
        "trail ",
        "1901",
        "0x1F",
        "1_000",
        "1:20",
        "2001-12-14",
        "a: b",
        "#c",
        "- x",
        "multi\nline",
        "del\u{7f}",
        "nel\u{85}",
        "bom\u{feff}",
        "\"q\" \\",
        "it's",
        ".inf",
        "émoji 🎉",
        "@at",
    ];

    #[test]
    fn every_string_reads_back_as_itself_and_the_ambiguous_ones_are_quoted() {
        let records: Vec<Json> = TRICKY
            .iter()
            .map(|text| json!({"recordName": text, "fields": {*text: {"value": [text], "type": "STRING_LIST"}}}))
            .collect();
        let yaml = render(&records);
        let back: Vec<Json> = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, records, "{yaml}");
        for word in &TRICKY[..14] {
            assert!(
                !yaml.lines().any(|line| line.ends_with(&format!(": {word}"))
                    || line.ends_with(&format!("- {word}"))),
                "`{word}` is plain:\n{yaml}"
            );
        }
        assert!(yaml.contains("recordName: \"yes\"\n"), "{yaml}");
        assert!(yaml.contains("\"del\\x7F\""), "{yaml}");
    }

    #[test]
    fn plain_words_stay_plain_and_floats_keep_a_point() {
        let records = vec![json!({
            "recordName": "team-7",
            "fields": {
                "name": {"value": "Boston Harbor", "type": "STRING"},
                "ratio": {"value": 1e-300, "type": "DOUBLE"},
                "count": {"value": -3, "type": "INT64"},
                "place": {"value": {"latitude": 1.5, "longitude": 2.0}, "type": "LOCATION"},
                "empty": {"value": [], "type": "STRING_LIST"},
                "stops": {"value": [{"latitude": 1.0}], "type": "LOCATION_LIST"},
            }
        })];
        let yaml = render(&records);
        assert_eq!(
            yaml,
            "- fields:\n    count:\n      type: INT64\n      value: -3\n    empty:\n      type: STRING_LIST\n      value: []\n    \
             name:\n      type: STRING\n      value: Boston Harbor\n    place:\n      type: LOCATION\n      value:\n        latitude: 1.5\n        longitude: 2.0\n    \
             ratio:\n      type: DOUBLE\n      value: 1.0e-300\n    stops:\n      type: LOCATION_LIST\n      value:\n      - latitude: 1.0\n  \
             recordName: team-7\n"
        );
        let back: Vec<Json> = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, records);
        assert_eq!(render(&[]), "[]\n");
    }
}
