//! `--set path=value` overrides, applied to the scenario's JSON before it is typed.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use super::locate::{Step, steps};

/// One `path=value` override: the value is JSON when it parses as JSON, else a string.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub path: String,
    pub value: Value,
}

impl FromStr for Override {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (path, raw) = text
            .split_once('=')
            .ok_or_else(|| format!("--set {text:?}: expected path=value, e.g. duration=12h"))?;
        let path = path.trim();
        if path.is_empty() {
            return Err(format!("--set {text:?}: the path is empty"));
        }
        let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
        Ok(Override {
            path: path.to_string(),
            value,
        })
    }
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Value::String(s) => write!(f, "{}={s}", self.path),
            other => write!(f, "{}={other}", self.path),
        }
    }
}

impl Override {
    /// Sets the value in `root`. Objects on the way may lack the final key (an omitted
    /// optional field); every other step must exist.
    pub fn apply(&self, root: &mut Value) -> Result<(), String> {
        let path = steps(&self.path);
        let (last, parents) = path.split_last().ok_or("empty path")?;
        let mut node = root;
        for (depth, step) in parents.iter().enumerate() {
            node = child(node, step, &path[..=depth], true)?;
        }
        match (node, last) {
            (Value::Object(map), Step::Key(key)) => {
                map.insert(key.clone(), self.value.clone());
                Ok(())
            }
            (node, step) => {
                *child(node, step, &path, false)? = self.value.clone();
                Ok(())
            }
        }
    }

    /// Whether an error at `path` concerns this override's value.
    pub fn covers(&self, path: &str) -> bool {
        let own = steps(&self.path);
        let other = steps(path);
        other.len() >= own.len() && other[..own.len()] == own[..]
    }

    /// Whether this override sets a value at or below `path`.
    pub fn is_below(&self, path: &str) -> bool {
        let own = steps(&self.path);
        let other = steps(path);
        own.len() >= other.len() && own[..other.len()] == other[..]
    }
}

fn child<'v>(
    node: &'v mut Value,
    step: &Step,
    upto: &[Step],
    create: bool,
) -> Result<&'v mut Value, String> {
    let shown = display(upto);
    match (node, step) {
        (Value::Object(map), step) => {
            let key = match step {
                Step::Key(key) => key.clone(),
                Step::Index(i) => i.to_string(),
            };
            if create {
                Ok(map
                    .entry(key)
                    .or_insert_with(|| Value::Object(Default::default())))
            } else {
                map.get_mut(&key).ok_or(format!("no field at {shown}"))
            }
        }
        (Value::Array(items), Step::Index(i)) => {
            let len = items.len();
            items
                .get_mut(*i)
                .ok_or(format!("{shown} is out of range: the list has {len} items"))
        }
        _ => Err(format!(
            "{shown} does not exist: its parent is not an object or list"
        )),
    }
}

fn display(path: &[Step]) -> String {
    let parts: Vec<String> = path
        .iter()
        .map(|s| match s {
            Step::Key(k) => k.clone(),
            Step::Index(i) => i.to_string(),
        })
        .collect();
    parts.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(text: &str, root: &mut Value) -> Result<(), String> {
        text.parse::<Override>()?.apply(root)
    }

    #[test]
    fn values_are_json_when_they_parse_else_strings() {
        assert_eq!("a=12".parse::<Override>().unwrap().value, json!(12));
        assert_eq!("a=12h".parse::<Override>().unwrap().value, json!("12h"));
        assert_eq!("a=true".parse::<Override>().unwrap().value, json!(true));
        assert_eq!(
            r#"a={"x":1}"#.parse::<Override>().unwrap().value,
            json!({"x": 1})
        );
        assert_eq!("a=x=y".parse::<Override>().unwrap().value, json!("x=y"));
        assert!("novalue".parse::<Override>().is_err());
        assert!("=5".parse::<Override>().is_err());
    }

    #[test]
    fn sets_nested_fields_and_list_items() {
        let mut root = json!({"duration": "1h", "receivers": [{"share": 1}, {"share": 2}]});
        set("duration=12h", &mut root).unwrap();
        set("receivers.1.share=0.5", &mut root).unwrap();
        set("flow_control.errors.threshold=5", &mut root).unwrap();
        assert_eq!(
            root,
            json!({"duration": "12h", "receivers": [{"share": 1}, {"share": 0.5}],
                   "flow_control": {"errors": {"threshold": 5}}})
        );
    }

    #[test]
    fn refuses_paths_that_cannot_exist() {
        let mut root = json!({"receivers": [{"share": 1}], "seed": 3});
        assert_eq!(
            set("receivers.4.share=1", &mut root),
            Err("receivers.4 is out of range: the list has 1 items".into())
        );
        assert!(set("seed.x=1", &mut root).is_err());
    }

    #[test]
    fn covers_paths_below_it() {
        let o: Override = "receivers.0.rate_limit=5".parse().unwrap();
        assert!(o.covers("receivers[0].rate_limit.rate"));
        assert!(!o.covers("receivers[1].rate_limit"));
    }
}
