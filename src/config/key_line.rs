//! Where a checked value of `ckplan.yaml` is written: serde_yaml keeps no positions of
//! values, so the errors of `resolve` (an empty container, a bad endpoint, template or
//! tolerance) find the line of their key by an indentation-blind search of the text.

/// The 1-based line of the top-level `key:` (plain or quoted, not indented).
pub(super) fn top_level(text: &str, key: &str) -> Option<usize> {
    let plain = format!("{key}:");
    let quoted = format!("\"{key}\":");
    text.lines()
        .position(|line| line.starts_with(&plain) || line.starts_with(&quoted))
        .map(|index| index + 1)
}

/// The 1-based line of `key:` in the declaration of `record_type` under `types:`, in block
/// or flow style (`Team: {file: t.json, record_name: "team-{}"}`).
pub(super) fn in_type(text: &str, record_type: &str, key: &str) -> Option<usize> {
    let type_keys = [format!("{record_type}:"), format!("\"{record_type}\":")];
    let mut lines = text.lines().enumerate();
    let (type_index, type_line) = lines.find(|(_, line)| {
        let line = line.trim_start();
        type_keys.iter().any(|type_key| line.starts_with(type_key))
    })?;
    let has_key = |line: &str| {
        let key = format!("{key}:");
        line.match_indices(&key).any(|(at, _)| {
            let before = line[..at].trim_end();
            before.is_empty() || before.ends_with('{') || before.ends_with(',')
        })
    };
    if has_key(
        type_line
            .trim_start()
            .split_once(':')
            .map_or("", |(_, rest)| rest),
    ) {
        return Some(type_index + 1);
    }
    lines
        .find(|(_, line)| has_key(line))
        .map(|(index, _)| index + 1)
}

/// The 1-based line and column of the key declaring `field` under `record_type`, in block
/// (`field: TYPE` on its own line) or flow style (`fields: {a: STRING, field: TYPE}`), found
/// by indentation-blind search (serde_yaml keeps no positions of values). `None` if not found.
pub(super) fn field_place(text: &str, record_type: &str, field: &str) -> Option<(usize, usize)> {
    let mut lines = text.lines().enumerate();
    let type_key = format!("{record_type}:");
    lines.find(|(_, line)| line.trim_start().starts_with(&type_key))?;
    let field_key = format!("{field}:");
    lines.find_map(|(index, line)| {
        let starts = line.match_indices(&field_key).map(|(at, _)| at);
        let key = starts.into_iter().find(|&at| {
            let before = line[..at].trim_end();
            before.is_empty() || before.ends_with('{') || before.ends_with(',')
        })?;
        Some((index + 1, line[..key].chars().count() + 1))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "container: c\nenvironment: development\nendpoint: ftp://x\ntypes:\n  \
                        Stadium:\n    file: s.json\n  Team:\n    file: t.json\n    \
                        record_name: \"team-{}\"\n  Game: {file: g.json, location_tolerance: -1}\n";

    #[test]
    fn finds_top_level_keys_and_keys_of_a_type() {
        assert_eq!(top_level(TEXT, "container"), Some(1));
        assert_eq!(top_level(TEXT, "endpoint"), Some(3));
        assert_eq!(
            top_level(TEXT, "file"),
            None,
            "indented keys are not top-level"
        );
        assert_eq!(in_type(TEXT, "Team", "record_name"), Some(9));
        assert_eq!(in_type(TEXT, "Game", "location_tolerance"), Some(10));
        assert_eq!(in_type(TEXT, "Stadium", "file"), Some(6));
        assert_eq!(in_type(TEXT, "Nope", "file"), None);
    }
}
