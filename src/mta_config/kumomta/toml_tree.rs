//! A TOML document as an owned tree whose every key and value knows its place, so that a
//! warning or an error can name file:line:column.

use toml::de::{DeTable, DeValue};

use crate::mta_config::diag::{ConfigError, Place, Text};

/// A TOML value and where it is.
#[derive(Debug, Clone)]
pub struct Node {
    pub place: Place,
    pub value: Kind,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Node>),
    Table(Vec<Field>),
    Datetime,
}

/// A key of a table: its name, where the key is, and its value.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub place: Place,
    pub node: Node,
}

/// Parses a whole document; a syntax error names its line:column.
pub fn parse(text: &Text) -> Result<Vec<Field>, ConfigError> {
    let doc = DeTable::parse(text.text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        text.error(offset, format!("TOML syntax error: {}", e.message().trim()))
    })?;
    fields(text, doc.get_ref())
}

fn fields(text: &Text, table: &DeTable) -> Result<Vec<Field>, ConfigError> {
    table
        .iter()
        .map(|(k, v)| {
            Ok(Field {
                name: k.get_ref().to_string(),
                place: text.place(k.span().start),
                node: node(text, v.get_ref(), v.span().start)?,
            })
        })
        .collect()
}

fn node(text: &Text, value: &DeValue, offset: usize) -> Result<Node, ConfigError> {
    let place = text.place(offset);
    let value = match value {
        DeValue::String(s) => Kind::Str(s.to_string()),
        DeValue::Integer(i) => Kind::Int(
            i64::from_str_radix(i.as_str(), i.radix())
                .map_err(|_| text.error(offset, "integer out of range"))?,
        ),
        DeValue::Float(f) => Kind::Float(
            f.as_str()
                .parse()
                .map_err(|_| text.error(offset, "invalid float"))?,
        ),
        DeValue::Boolean(b) => Kind::Bool(*b),
        DeValue::Datetime(_) => Kind::Datetime,
        DeValue::Array(items) => Kind::Array(
            items
                .iter()
                .map(|v| node(text, v.get_ref(), v.span().start))
                .collect::<Result<_, _>>()?,
        ),
        DeValue::Table(t) => Kind::Table(fields(text, t)?),
    };
    Ok(Node { place, value })
}

impl Node {
    /// An error about this value.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::Value {
            place: self.place.clone(),
            message: message.into(),
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self.value {
            Kind::Str(_) => "a string",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a float",
            Kind::Bool(_) => "a boolean",
            Kind::Array(_) => "an array",
            Kind::Table(_) => "a table",
            Kind::Datetime => "a date-time",
        }
    }

    pub fn str(&self, what: &str) -> Result<&str, ConfigError> {
        match &self.value {
            Kind::Str(s) => Ok(s),
            _ => Err(self.error(format!(
                "{what}: expected a string, got {}",
                self.type_name()
            ))),
        }
    }

    pub fn bool(&self, what: &str) -> Result<bool, ConfigError> {
        match self.value {
            Kind::Bool(b) => Ok(b),
            _ => Err(self.error(format!(
                "{what}: expected true or false, got {}",
                self.type_name()
            ))),
        }
    }

    pub fn table(&self, what: &str) -> Result<&[Field], ConfigError> {
        match &self.value {
            Kind::Table(t) => Ok(t),
            _ => Err(self.error(format!(
                "{what}: expected a table, got {}",
                self.type_name()
            ))),
        }
    }

    pub fn array(&self, what: &str) -> Result<&[Node], ConfigError> {
        match &self.value {
            Kind::Array(a) => Ok(a),
            _ => Err(self.error(format!(
                "{what}: expected an array, got {}",
                self.type_name()
            ))),
        }
    }
}

/// The field `name` of a table.
pub fn get<'f>(table: &'f [Field], name: &str) -> Option<&'f Field> {
    table.iter().find(|f| f.name == name)
}

/// A string as TOML writes it (a literal string when it can be one).
pub fn string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}
