use super::*;
use proptest::prelude::*;

/// The shape of an export, from Apple's "Integrating a Text-Based Schema into Your
/// Workflow", with comments, a role, an encrypted type and mixed-case keywords.
const APPLE_EXAMPLE: &str = r#"
DEFINE SCHEMA
    // roles first
    CREATE ROLE Moderator;

    RECORD TYPE Users (
        "___createTime" TIMESTAMP,
        "___createdBy"  REFERENCE,
        "___etag"       STRING,
        "___modTime"    TIMESTAMP,
        "___modifiedBy" REFERENCE,
        "___recordID"   REFERENCE QUERYABLE,
        roles           LIST<INT64>,
        GRANT WRITE TO "_creator",
        GRANT CREATE TO "_icloud",
        GRANT READ TO "_world"
    );

    record type Note (
        "___createTime" TIMESTAMP QUERYABLE SORTABLE, -- for partitioned reads
        body   ENCRYPTED STRING,
        title  STRING QUERYABLE SEARCHABLE SORTABLE,
        score  NUMBER PREFERRED AS DOUBLE,
        GRANT READ, WRITE TO "Moderator"
    )
"#;

#[test]
fn parses_apple_example() {
    let schema = parse(APPLE_EXAMPLE).unwrap();
    assert_eq!(schema.roles.iter().collect::<Vec<_>>(), ["Moderator"]);
    let users = &schema.types["Users"];
    assert_eq!(users.fields.len(), 7);
    assert_eq!(
        users.fields["roles"].data_type,
        DataType {
            primitive: Primitive::Int64,
            list: true,
            encrypted: false
        }
    );
    assert!(users.fields[RECORD_ID].indexes.contains(&Index::Queryable));
    assert!(users.grants["_icloud"].contains(&Permission::Create));
    let note = &schema.types["Note"];
    assert!(note.fields["body"].data_type.encrypted);
    assert_eq!(note.fields["title"].indexes.len(), 3);
    assert_eq!(
        note.fields["score"].data_type.primitive,
        Primitive::NumberDouble
    );
    assert_eq!(note.grants["Moderator"].len(), 2);
}

#[test]
fn prints_deterministically_with_system_fields_first() {
    let schema = parse(APPLE_EXAMPLE).unwrap();
    let text = print(&schema).unwrap();
    assert_eq!(parse(&text).unwrap(), schema);
    let note = text.split("RECORD TYPE Note").nth(1).unwrap();
    let create = note.find("\"___createTime\"").unwrap();
    assert!(create < note.find("body").unwrap(), "{text}");
    assert!(
        text.contains("        GRANT READ, WRITE TO \"Moderator\"\n    );"),
        "{text}"
    );
    assert!(text.contains("    CREATE ROLE \"Moderator\";"), "{text}");
}

fn error_of(text: &str) -> SchemaError {
    parse(text).unwrap_err()
}

#[test]
fn errors_name_line_and_column() {
    let error = error_of("DEFINE SCHEMA\n  RECORD TYPE A (\n    name STRIN\n  );");
    assert_eq!((error.line, error.column), (3, 10), "{error}");
    assert!(error.message.starts_with("expected a type"), "{error}");
    let error = error_of("DEFINE SCHEMA\nRECORD TYPE A (x INT64 QUERYABLE y INT64);");
    assert_eq!((error.line, error.column), (2, 34), "{error}");
    assert_eq!(
        error.to_string(),
        "line 2, column 34: expected `,`, found `y`"
    );
    let error = error_of("DEFINE SCHEMA RECORD TYPE A (\"unclosed INT64);\n");
    assert_eq!((error.line, error.column), (1, 30));
    let error = error_of("DEFINE SCHEMA RECORD TYPE A (a INT64, a STRING);");
    assert_eq!(
        error.to_string(),
        "line 1, column 39: field `a` is defined twice"
    );
    let error = error_of("DEFINE SCHEMA RECORD TYPE A (a ENCRYPTED ASSET);");
    assert_eq!(error.message, "`ASSET` cannot be ENCRYPTED");
    let error = error_of("DEFINE SCHEMA RECORD TYPE A () RECORD TYPE B ()");
    assert_eq!(error.message, "expected `;`, found `RECORD`");
    let error = error_of("DEFINE SCHEMA RECORD TYPE A (GRANT READ TO);");
    assert_eq!(error.message, "expected a role name, found `)`");
    let error = error_of("RECORD TYPE A ();");
    assert_eq!((error.line, error.column), (1, 1));
    let error = error_of("DEFINE SCHEMA\n\tRECORD TYPE A (a INT64 \u{1b}[2J);");
    assert_eq!(error.message, "unexpected `\\u{1b}`");
}

#[test]
fn keywords_and_odd_names_are_quoted() {
    let mut schema = Schema::default();
    let mut definition = RecordTypeDef::default();
    for name in ["GRANT", "list", "2fast", "plain_name"] {
        definition.fields.insert(
            name.to_owned(),
            FieldDef {
                data_type: DataType::scalar(Primitive::String),
                indexes: Default::default(),
            },
        );
    }
    schema.types.insert("TYPE".to_owned(), definition);
    let text = print(&schema).unwrap();
    assert!(text.contains("RECORD TYPE \"TYPE\" ("), "{text}");
    assert!(text.contains("\"GRANT\"    STRING,"), "{text}");
    assert!(text.contains("plain_name STRING\n"), "{text}");
    assert_eq!(parse(&text).unwrap(), schema);
}

fn needed() -> Schema {
    parse(
        r#"DEFINE SCHEMA RECORD TYPE Team (
            "___recordID" REFERENCE QUERYABLE,
            name STRING QUERYABLE,
            founded INT64,
            GRANT CREATE, WRITE TO "_icloud"
        );
        RECORD TYPE Game (date TIMESTAMP);"#,
    )
    .unwrap()
}

#[test]
fn missing_lists_types_fields_indexes_grants_and_retypes() {
    let actual = parse(
        r#"DEFINE SCHEMA RECORD TYPE Team (
            "___recordID" REFERENCE,
            name STRING,
            founded STRING,
            other BYTES,
            GRANT WRITE TO "_icloud"
        );"#,
    )
    .unwrap();
    let diff = missing(&needed(), &actual);
    let shown: Vec<String> = diff.additions.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "record type `Game`",
            "field `Game.date` TIMESTAMP",
            "index QUERYABLE on `Team.___recordID`",
            "index QUERYABLE on `Team.name`",
            "grant CREATE on `Team` to `_icloud`",
        ]
    );
    assert_eq!(
        diff.conflicts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["field `Team.founded` is STRING in CloudKit but the config needs INT64"]
    );
    // The merge keeps what only CloudKit has and the retyped field's actual type.
    let merged = merged(&actual, &needed());
    assert!(merged.types["Team"].fields.contains_key("other"));
    assert_eq!(
        merged.types["Team"].fields["founded"].data_type,
        DataType::scalar(Primitive::String)
    );
    let again = missing(&needed(), &merged);
    assert!(again.additions.is_empty(), "{again:?}");
}

#[test]
fn a_schema_lacks_nothing_it_has() {
    let schema = needed();
    assert!(missing(&schema, &schema).is_empty());
    assert_eq!(merged(&schema, &schema), schema);
}

fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z][A-Za-z0-9_]{0,8}",
        Just("___createTime".to_owned()),
        Just("___recordID".to_owned()),
        Just("GRANT".to_owned()),
        "[ _a-z0-9.]{1,6}",
    ]
}

fn arb_data_type() -> impl Strategy<Value = DataType> {
    (
        proptest::sample::select(Primitive::ALL.to_vec()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(primitive, list, encrypted)| DataType {
            primitive,
            list,
            encrypted: encrypted && primitive.may_be_encrypted(),
        })
}

fn arb_type() -> impl Strategy<Value = RecordTypeDef> {
    let field = (
        arb_data_type(),
        proptest::collection::btree_set(proptest::sample::select(Index::ALL.to_vec()), 0..3),
    )
        .prop_map(|(data_type, indexes)| FieldDef { data_type, indexes });
    let permissions =
        proptest::collection::btree_set(proptest::sample::select(Permission::ALL.to_vec()), 1..3);
    (
        proptest::collection::btree_map(arb_name(), field, 0..5),
        proptest::collection::btree_map(arb_name(), permissions, 0..3),
    )
        .prop_map(|(fields, grants)| RecordTypeDef { fields, grants })
}

proptest! {
    #[test]
    fn issue_20_parse_of_printed_schema_is_identity(
        roles in proptest::collection::btree_set(arb_name(), 0..2),
        types in proptest::collection::btree_map(arb_name(), arb_type(), 0..4),
    ) {
        let schema = Schema { roles, types };
        let text = print(&schema).unwrap();
        prop_assert_eq!(parse(&text).map_err(|e| e.to_string()), Ok(schema), "{}", text);
    }
}

#[test]
fn issue_20_the_printer_refuses_names_it_cannot_quote() {
    let field = FieldDef {
        data_type: DataType::scalar(Primitive::String),
        indexes: Default::default(),
    };
    let with_type = |name: &str| Schema {
        roles: Default::default(),
        types: [(name.to_owned(), RecordTypeDef::default())].into(),
    };
    let with_field = |name: &str| Schema {
        roles: Default::default(),
        types: [(
            "Team".to_owned(),
            RecordTypeDef {
                fields: [(name.to_owned(), field.clone())].into(),
                grants: Default::default(),
            },
        )]
        .into(),
    };
    let with_grant = |role: &str| Schema {
        roles: Default::default(),
        types: [(
            "Team".to_owned(),
            RecordTypeDef {
                fields: Default::default(),
                grants: [(role.to_owned(), [Permission::Read].into())].into(),
            },
        )]
        .into(),
    };
    let with_role = |role: &str| Schema {
        roles: [role.to_owned()].into(),
        types: Default::default(),
    };
    for schema in [
        with_type("Team\" (x STRING); RECORD TYPE \"Evil"),
        with_type(""),
        with_field("name\nGRANT WRITE TO \"_world\""),
        with_field("a\u{1b}[2Jb"),
        with_grant("_world\" ); RECORD TYPE Evil ( x STRING"),
        with_grant("a\u{2028}b"),
        with_role("a\\"),
        with_role("r\u{202e}"),
    ] {
        let error = print(&schema).unwrap_err().to_string();
        assert!(
            !error.contains('\n') && !error.contains('\u{1b}') && !error.contains('\u{202e}'),
            "{error}"
        );
    }
    // Quotable names that are not bare words are quoted, not refused.
    let text = print(&with_field("two words")).unwrap();
    assert!(text.contains("\"two words\" STRING"), "{text}");
    // The parser refuses the same names inside quotes.
    let error = parse("DEFINE SCHEMA RECORD TYPE \"a\\b\" (x STRING);").unwrap_err();
    assert_eq!((error.line, error.column), (1, 27), "{error}");
}
