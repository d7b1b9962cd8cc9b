use super::*;

#[test]
fn issue_12_record_names_follow_apples_rules() {
    assert_eq!(record_name_problem("city-zurich"), None);
    assert_eq!(record_name_problem(&"a".repeat(255)), None);
    let problem = record_name_problem("city-zürich").unwrap();
    assert!(problem.contains("ASCII only"), "{problem}");
    assert!(problem.contains("U+00FC"), "{problem}");
    assert!(record_name_problem(&"a".repeat(256))
        .unwrap()
        .contains("256 characters"));
    assert!(record_name_problem("_hidden")
        .unwrap()
        .contains("starts with `_`"));
    assert!(record_name_problem("").unwrap().contains("empty"));
    let control = record_name_problem("a\u{1b}[2Jb").unwrap();
    assert!(control.contains("control character"), "{control}");
    assert!(
        !control.contains('\u{1b}'),
        "the message carries the escape raw: {control}"
    );
    let bidi = record_name_problem("abc\u{202e}fed").unwrap();
    assert!(
        bidi.contains("U+202E") && !bidi.contains('\u{202e}'),
        "{bidi}"
    );
}

#[test]
fn issue_12_type_and_field_names_follow_apples_rules() {
    assert_eq!(type_name_problem("Stadium_2"), None);
    assert_eq!(field_name_problem("homeTeam_id"), None);
    assert!(type_name_problem("2Stadium")
        .unwrap()
        .contains("must start with an ASCII letter"));
    assert!(type_name_problem("_Stadium").is_some());
    assert!(type_name_problem("Sta dium").unwrap().contains("a space"));
    assert!(type_name_problem("Städium").is_some());
    assert!(field_name_problem("home-team").unwrap().contains("'-'"));
    assert!(field_name_problem("___createTime").is_some());
    assert!(field_name_problem("recordName")
        .unwrap()
        .contains("reserved"));
    assert!(field_name_problem("").unwrap().contains("empty"));
    assert!(field_name_problem(&"f".repeat(256))
        .unwrap()
        .contains("over CloudKit's limit"));
    let bidi = field_name_problem("name\u{202e}").unwrap();
    assert!(!bidi.contains('\u{202e}'), "{bidi}");
}
