//! `record_name` templates such as `team-{id}`: literal text and `{key}` placeholders
//! filled from a plain record's own values.

use serde_json::{Map, Value as Json};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Key(String),
}

/// A parsed `record_name` template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameTemplate {
    source: String,
    parts: Vec<Part>,
}

/// Why a template cannot name a record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("record_name template `{template}` needs key `{key}`, which this record lacks")]
    MissingKey { template: String, key: String },
    #[error("record_name template `{template}`: key `{key}` is {found}, not a string or number")]
    NotScalar {
        template: String,
        key: String,
        found: &'static str,
    },
    #[error("record_name template `{template}` gives an empty name")]
    Empty { template: String },
}

impl NameTemplate {
    /// Parses `text`; `{` opens a placeholder closed by `}`, and the key inside is not empty.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err(format!(
                    "record_name template `{text}` has an unmatched `}}`"
                ));
            }
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("record_name template `{text}` has an unclosed `{{`"))?;
            let key = &after[..close];
            if key.is_empty() || key.contains('{') {
                return Err(format!(
                    "record_name template `{text}` has an invalid placeholder `{{{key}}}`"
                ));
            }
            parts.push(Part::Key(key.to_owned()));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Self {
            source: text.to_owned(),
            parts,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The keys the template reads.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Key(key) => Some(key.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Fills the placeholders from `record`: strings as they are, numbers and booleans as
    /// written in JSON.
    pub fn render(&self, record: &Map<String, Json>) -> Result<String, TemplateError> {
        let mut name = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => name.push_str(text),
                Part::Key(key) => match record.get(key) {
                    None | Some(Json::Null) => {
                        return Err(TemplateError::MissingKey {
                            template: self.source.clone(),
                            key: key.clone(),
                        })
                    }
                    Some(Json::String(text)) => name.push_str(text),
                    Some(Json::Number(number)) => name.push_str(&number.to_string()),
                    Some(Json::Bool(flag)) => name.push_str(&flag.to_string()),
                    Some(other) => {
                        return Err(TemplateError::NotScalar {
                            template: self.source.clone(),
                            key: key.clone(),
                            found: if other.is_array() {
                                "an array"
                            } else {
                                "an object"
                            },
                        })
                    }
                },
            }
        }
        if name.is_empty() {
            return Err(TemplateError::Empty {
                template: self.source.clone(),
            });
        }
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Json) -> Map<String, Json> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn renders_keys_and_literals() {
        let template = NameTemplate::parse("team-{league}-{id}").unwrap();
        assert_eq!(template.keys().collect::<Vec<_>>(), ["league", "id"]);
        let name = template.render(&object(json!({"league": "al", "id": 7})));
        assert_eq!(name.as_deref(), Ok("team-al-7"));
    }

    #[test]
    fn missing_key_is_named() {
        let template = NameTemplate::parse("team-{id}").unwrap();
        let error = template.render(&object(json!({"name": "x"}))).unwrap_err();
        assert_eq!(
            error.to_string(),
            "record_name template `team-{id}` needs key `id`, which this record lacks"
        );
    }

    #[test]
    fn rejects_malformed_templates() {
        assert!(NameTemplate::parse("team-{id").is_err());
        assert!(NameTemplate::parse("team-}").is_err());
        assert!(NameTemplate::parse("team-{}").is_err());
        assert!(NameTemplate::parse("{a{b}").is_err());
    }
}
