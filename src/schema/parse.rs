//! Schema text → [`Schema`]. The grammar, from Apple's "Integrating a Text-Based Schema
//! into Your Workflow":
//!
//! ```text
//! schema      := DEFINE SCHEMA { statement ";" }          (the last ";" may be left out)
//! statement   := CREATE ROLE name | RECORD TYPE name "(" [ item { "," item } ] ")"
//! item        := name data-type { QUERYABLE | SORTABLE | SEARCHABLE }
//!              | GRANT permission { "," permission } TO name
//! data-type   := [ENCRYPTED] primitive | LIST "<" [ENCRYPTED] primitive ">"
//! primitive   := ASSET | BYTES | DOUBLE | INT64 | LOCATION | REFERENCE | STRING | TIMESTAMP
//!              | NUMBER [PREFERRED AS (INT64 | DOUBLE)]
//! ```
//!
//! Keywords are case-insensitive; a name is a bare word or double-quoted (system fields
//! such as `"___createTime"` are quoted). `//` and `--` begin comments to the end of the
//! line; comments are not kept (neither does CloudKit). A hand-written lexer and descent
//! parser: the grammar is small, and every error names its line and column.

use super::{DataType, FieldDef, Index, Permission, Primitive, RecordTypeDef, Schema};
use crate::record::identifier::escaped;

/// Why schema text could not be read, and where (1-based line and column, in characters).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct SchemaError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Word(String),
    Quoted(String),
    Punct(char),
    End,
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    line: usize,
    column: usize,
}

impl Token {
    fn shown(&self) -> String {
        match &self.kind {
            Kind::Word(word) => format!("`{}`", escaped(word)),
            Kind::Quoted(text) => format!("`\"{}\"`", escaped(text)),
            Kind::Punct(c) => format!("`{c}`"),
            Kind::End => "the end of the text".to_owned(),
        }
    }

    fn is_word(&self, keyword: &str) -> bool {
        matches!(&self.kind, Kind::Word(w) if w.eq_ignore_ascii_case(keyword))
    }
}

/// Reads schema text. Index options are taken as written (an export is what CloudKit
/// holds); [`parse_strict`] refuses the ones CloudKit does not allow on a type.
pub fn parse(text: &str) -> Result<Schema, SchemaError> {
    let tokens = lex(text)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        strict: false,
    };
    parser.schema()
}

/// As [`parse`], refusing at its line and column what CloudKit's import and validate
/// refuse: an index option its field's type cannot have ([`super::index_problem`]) or
/// given twice, and what `strict` lists (a name that is no identifier or is too long, a
/// system field retyped or invented, a reserved field name, a grant on `Users`).
pub fn parse_strict(text: &str) -> Result<Schema, SchemaError> {
    let tokens = lex(text)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        strict: true,
    };
    parser.schema()
}

fn lex(text: &str) -> Result<Vec<Token>, SchemaError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    let (mut line, mut column) = (1, 1);
    let advance = |c: char, line: &mut usize, column: &mut usize| {
        if c == '\n' {
            *line += 1;
            *column = 1;
        } else {
            *column += 1;
        }
    };
    while let Some(&c) = chars.peek() {
        let (start_line, start_column) = (line, column);
        let token = |kind| Token {
            kind,
            line: start_line,
            column: start_column,
        };
        if c.is_whitespace() || c == '\u{feff}' {
            chars.next();
            advance(c, &mut line, &mut column);
        } else if c == '/' || c == '-' {
            chars.next();
            advance(c, &mut line, &mut column);
            if chars.peek() != Some(&c) {
                return Err(error_at(line, column - 1, format!("unexpected `{c}`")));
            }
            while let Some(&next) = chars.peek() {
                if next == '\n' {
                    break;
                }
                chars.next();
                advance(next, &mut line, &mut column);
            }
        } else if c == '"' {
            chars.next();
            advance(c, &mut line, &mut column);
            let mut name = String::new();
            loop {
                match chars.next() {
                    Some('"') => {
                        advance('"', &mut line, &mut column);
                        break;
                    }
                    Some('\n') | None => {
                        return Err(error_at(
                            start_line,
                            start_column,
                            "a quoted name is not closed on its line".to_owned(),
                        ))
                    }
                    Some(inner) => {
                        advance(inner, &mut line, &mut column);
                        name.push(inner);
                    }
                }
            }
            if let Some(problem) = super::names::quotable_problem("a quoted name", &name) {
                return Err(error_at(start_line, start_column, problem));
            }
            tokens.push(token(Kind::Quoted(name)));
        } else if is_word_char(c) {
            let mut word = String::new();
            while let Some(&next) = chars.peek().filter(|n| is_word_char(**n)) {
                chars.next();
                advance(next, &mut line, &mut column);
                word.push(next);
            }
            tokens.push(token(Kind::Word(word)));
        } else if "(),;<>".contains(c) {
            chars.next();
            advance(c, &mut line, &mut column);
            tokens.push(token(Kind::Punct(c)));
        } else {
            let shown = escaped(&c.to_string());
            return Err(error_at(line, column, format!("unexpected `{shown}`")));
        }
    }
    tokens.push(Token {
        kind: Kind::End,
        line,
        column,
    });
    Ok(tokens)
}

/// Characters of a bare word: names and keywords.
pub(super) fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn error_at(line: usize, column: usize, message: String) -> SchemaError {
    SchemaError {
        line,
        column,
        message,
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// Whether index options are checked against their field's type.
    strict: bool,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        token
    }

    fn fail<T>(&self, token: &Token, expected: &str) -> Result<T, SchemaError> {
        Err(error_at(
            token.line,
            token.column,
            format!("expected {expected}, found {}", token.shown()),
        ))
    }

    fn keyword(&mut self, keyword: &str) -> Result<(), SchemaError> {
        let token = self.next();
        if token.is_word(keyword) {
            Ok(())
        } else {
            self.fail(&token, &format!("`{keyword}`"))
        }
    }

    fn punct(&mut self, punct: char) -> Result<(), SchemaError> {
        let token = self.next();
        if token.kind == Kind::Punct(punct) {
            Ok(())
        } else {
            self.fail(&token, &format!("`{punct}`"))
        }
    }

    fn eat(&mut self, punct: char) -> bool {
        let found = self.peek().kind == Kind::Punct(punct);
        if found {
            self.next();
        }
        found
    }

    fn name(&mut self, what: &str) -> Result<(String, Token), SchemaError> {
        let token = self.next();
        match &token.kind {
            Kind::Word(word) => Ok((word.clone(), token)),
            Kind::Quoted(name) if !name.is_empty() => Ok((name.clone(), token)),
            _ => self.fail(&token, what),
        }
    }

    fn schema(&mut self) -> Result<Schema, SchemaError> {
        self.keyword("DEFINE")?;
        self.keyword("SCHEMA")?;
        let mut schema = Schema::default();
        loop {
            let token = self.peek().clone();
            if token.kind == Kind::End {
                return Ok(schema);
            }
            if token.is_word("CREATE") {
                self.next();
                self.keyword("ROLE")?;
                let (role, _) = self.name("a role name")?;
                schema.roles.insert(role);
            } else if token.is_word("RECORD") {
                self.next();
                self.keyword("TYPE")?;
                let (name, name_token) = self.name("a record type name")?;
                self.check(&name_token, super::strict::type_name_problem(&name))?;
                let definition = self.record_type(&name)?;
                if schema.types.insert(name.clone(), definition).is_some() {
                    let message = format!("record type `{}` is defined twice", escaped(&name));
                    return Err(error_at(name_token.line, name_token.column, message));
                }
            } else {
                return self.fail(&token, "`RECORD TYPE`, `CREATE ROLE` or the end");
            }
            if !self.eat(';') && self.peek().kind != Kind::End {
                let token = self.peek().clone();
                return self.fail(&token, "`;`");
            }
        }
    }

    /// In strict mode, `problem` as an error at `token`.
    fn check(&self, token: &Token, problem: Option<String>) -> Result<(), SchemaError> {
        match problem.filter(|_| self.strict) {
            Some(message) => Err(error_at(token.line, token.column, message)),
            None => Ok(()),
        }
    }

    fn record_type(&mut self, record_type: &str) -> Result<RecordTypeDef, SchemaError> {
        self.punct('(')?;
        let mut definition = RecordTypeDef::default();
        if self.eat(')') {
            return Ok(definition);
        }
        loop {
            if self.peek().is_word("GRANT") {
                let grant = self.next();
                let (role, permissions) = self.grant()?;
                for permission in &permissions {
                    let problem = super::strict::grant_problem(record_type, &role, *permission);
                    self.check(&grant, problem)?;
                }
                definition
                    .grants
                    .entry(role)
                    .or_default()
                    .extend(permissions);
            } else {
                let (name, token) = self.name("a field name or `GRANT`")?;
                self.check(&token, super::strict::field_name_problem(&name))?;
                let type_token = self.peek().clone();
                let field = self.field()?;
                let problem = super::strict::system_type_problem(&name, field.data_type);
                self.check(&type_token, problem)?;
                if definition.fields.insert(name.clone(), field).is_some() {
                    let message = format!("field `{}` is defined twice", escaped(&name));
                    return Err(error_at(token.line, token.column, message));
                }
            }
            if self.eat(')') {
                return Ok(definition);
            }
            self.punct(',')?;
        }
    }

    fn grant(&mut self) -> Result<(String, Vec<Permission>), SchemaError> {
        let mut permissions = vec![self.permission()?];
        while self.eat(',') {
            permissions.push(self.permission()?);
        }
        self.keyword("TO")?;
        let (role, _) = self.name("a role name")?;
        Ok((role, permissions))
    }

    fn permission(&mut self) -> Result<Permission, SchemaError> {
        let token = self.next();
        match Permission::ALL
            .into_iter()
            .find(|p| token.is_word(p.keyword()))
        {
            Some(permission) => Ok(permission),
            None => self.fail(&token, "`READ`, `CREATE` or `WRITE`"),
        }
    }

    fn field(&mut self) -> Result<FieldDef, SchemaError> {
        let data_type = if self.peek().is_word("LIST") {
            self.next();
            self.punct('<')?;
            let (primitive, encrypted) = self.primitive()?;
            self.punct('>')?;
            DataType {
                primitive,
                list: true,
                encrypted,
            }
        } else {
            let (primitive, encrypted) = self.primitive()?;
            DataType {
                primitive,
                list: false,
                encrypted,
            }
        };
        let mut indexes = std::collections::BTreeSet::new();
        while let Some(index) = Index::ALL
            .into_iter()
            .find(|i| self.peek().is_word(i.keyword()))
        {
            let token = self.next();
            self.check(&token, super::index_problem(data_type, index))?;
            let repeated = (!indexes.insert(index)).then(|| format!("{index} is repeated"));
            self.check(&token, repeated)?;
        }
        Ok(FieldDef { data_type, indexes })
    }

    fn primitive(&mut self) -> Result<(Primitive, bool), SchemaError> {
        let encrypted = self.peek().is_word("ENCRYPTED");
        if encrypted {
            self.next();
        }
        let token = self.next();
        let expected = "a type (`STRING`, `INT64`, `DOUBLE`, `TIMESTAMP`, `LOCATION`, \
                        `REFERENCE`, `BYTES`, `ASSET`, `NUMBER` or `LIST<…>`)";
        let primitive = match Primitive::ALL
            .into_iter()
            .filter(|p| !p.keyword().contains(' '))
            .find(|p| token.is_word(p.keyword()))
        {
            Some(Primitive::Number) if self.peek().is_word("PREFERRED") => {
                self.next();
                self.keyword("AS")?;
                let preferred = self.next();
                if preferred.is_word("INT64") {
                    Primitive::NumberInt64
                } else if preferred.is_word("DOUBLE") {
                    Primitive::NumberDouble
                } else {
                    return self.fail(&preferred, "`INT64` or `DOUBLE`");
                }
            }
            Some(primitive) => primitive,
            None => return self.fail(&token, expected),
        };
        if encrypted && !primitive.may_be_encrypted() {
            let message = format!("`{}` cannot be ENCRYPTED", primitive.keyword());
            return Err(error_at(token.line, token.column, message));
        }
        Ok((primitive, encrypted))
    }
}
