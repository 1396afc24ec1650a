//! Configuration layers, pure: a base document, an environment overlay
//! deep-merged over it (mappings merge key by key, anything else replaces),
//! then overrides from environment variables such as
//! `HOTCOLD__LINK__BWLIMIT=4MiB` (`__` between keys, `_` within a key
//! becomes `-`; values are read as YAML scalars).
//!
//! Core reads no file and no environment: the caller hands both in as a
//! [`World`], so the layering is tested (and fuzzed) without either.

use serde_yaml::{Mapping, Value};

/// Merges `overlay` into `base`.
pub fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Applies `PREFIX__A__B=value` variables; returns the key paths it set.
pub fn apply_env(
    base: &mut Value,
    prefix: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<String>, String> {
    let mut set = Vec::new();
    let lead = format!("{prefix}__");
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix(&lead) else {
            continue;
        };
        let path: Vec<String> = rest
            .split("__")
            .map(|k| k.to_ascii_lowercase().replace('_', "-"))
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(format!(
                "environment variable {name}: empty key in its path"
            ));
        }
        let value: Value = serde_yaml::from_str(&raw).unwrap_or(Value::String(raw.clone()));
        let mut cur = &mut *base;
        for (i, key) in path.iter().enumerate() {
            // `as_mapping_mut` sees through a YAML tag (`!x {a: 1}`), which
            // a `Value::Mapping` pattern does not: matching the pattern after
            // an `is_mapping()` check panicked on a tagged mapping (found by
            // the config fuzz target).
            if cur.as_mapping_mut().is_none() {
                *cur = Value::Mapping(Mapping::new());
            }
            let Some(m) = cur.as_mapping_mut() else {
                return Err(format!("environment variable {name}: cannot set {key}"));
            };
            let k = Value::String(key.clone());
            if i + 1 == path.len() {
                m.insert(k, value.clone());
                break;
            }
            cur = m.entry(k).or_insert_with(|| Value::Mapping(Mapping::new()));
        }
        set.push(path.join("."));
    }
    Ok(set)
}

/// What [`read`] needs from outside: how to read a file, and the
/// environment variables. The binaries pass the real ones.
pub struct World<'a> {
    pub read_file: &'a dyn Fn(&std::path::Path) -> std::io::Result<String>,
    pub vars: Vec<(String, String)>,
}

impl World<'_> {
    fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a config file with its layers: `environments/<HOTCOLD_ENV>.yaml`
/// beside it (when `HOTCOLD_ENV` is set) and `HOTCOLD__...` variables.
/// Returns the parsed value and a description of where it came from, for
/// error messages.
/// serde's error with the key path in front when serde_yaml's own text
/// lacks it (a top-level key, or the last key of a nested one), so every
/// refusal names its key: `ingest.max-body: "4 MB": ambiguous unit ...`.
fn with_key(e: &serde_path_to_error::Error<serde_yaml::Error>) -> String {
    let path = e.path().to_string();
    let inner = e.inner().to_string();
    if path.is_empty() || path == "." || inner.starts_with(&format!("{path}:")) {
        return inner;
    }
    // serde_yaml names the map it was in ("ingest: ..."); the full path
    // replaces that prefix.
    let rest = path
        .rsplit_once('.')
        .and_then(|(parent, _)| inner.strip_prefix(&format!("{parent}: ")))
        .unwrap_or(&inner);
    format!("{path}: {rest}")
}

pub fn read<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    world: &World,
) -> Result<(T, String), String> {
    let text = (world.read_file)(path)
        .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
    let env = world
        .var("HOTCOLD_ENV")
        .filter(|e| !e.is_empty())
        .map(String::from);
    let overrides: Vec<(String, String)> = world
        .vars
        .iter()
        .filter(|(k, _)| k.starts_with("HOTCOLD__"))
        .cloned()
        .collect();
    if env.is_none() && overrides.is_empty() {
        // One plain file: serde_yaml's own errors carry the line and column.
        let v = serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(&text))
            .map_err(|e| format!("config {}: {}", path.display(), with_key(&e)))?;
        return Ok((v, path.display().to_string()));
    }
    let mut sources = vec![path.display().to_string()];
    let mut doc: Value =
        serde_yaml::from_str(&text).map_err(|e| format!("config {}: {e}", path.display()))?;
    if let Some(env) = env {
        crate::schema::check_name(&env)
            .map_err(|_| format!("HOTCOLD_ENV={env:?}: use letters, digits and _"))?;
        let p = path
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("environments")
            .join(format!("{env}.yaml"));
        let t = (world.read_file)(&p)
            .map_err(|e| format!("HOTCOLD_ENV={env}: cannot read {}: {e}", p.display()))?;
        let overlay: Value =
            serde_yaml::from_str(&t).map_err(|e| format!("config {}: {e}", p.display()))?;
        merge(&mut doc, overlay);
        sources.push(p.display().to_string());
    }
    let set = apply_env(&mut doc, "HOTCOLD", overrides)?;
    if !set.is_empty() {
        sources.push(format!("environment ({})", set.join(", ")));
    }
    let from = sources.join(" + ");
    let v = serde_path_to_error::deserialize(doc)
        .map_err(|e| format!("config {from}: {}", with_key(&e)))?;
    Ok((v, from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_and_env() {
        let mut base: Value = serde_yaml::from_str(
            "a: 1\nlink:\n  bwlimit: off\n  chunk-size: 1MiB\ntables: [x, y]\n",
        )
        .unwrap();
        merge(
            &mut base,
            serde_yaml::from_str("link:\n  bwlimit: 2MiB\ntables: [z]\n").unwrap(),
        );
        assert_eq!(base["link"]["bwlimit"], Value::String("2MiB".into()));
        assert_eq!(
            base["link"]["chunk-size"],
            Value::String("1MiB".into()),
            "merged, not replaced"
        );
        assert_eq!(
            base["tables"].as_sequence().unwrap().len(),
            1,
            "sequences replace"
        );
        let set = apply_env(
            &mut base,
            "HOTCOLD",
            vec![
                (
                    "HOTCOLD__LINK__MAX_CHUNKS_IN_FLIGHT".to_string(),
                    "4".to_string(),
                ),
                (
                    "HOTCOLD__SCHEDULE__ENABLED".to_string(),
                    "false".to_string(),
                ),
                ("OTHER".to_string(), "x".to_string()),
            ],
        )
        .unwrap();
        assert_eq!(set, vec!["link.max-chunks-in-flight", "schedule.enabled"]);
        assert_eq!(
            base["link"]["max-chunks-in-flight"],
            Value::Number(4.into())
        );
        assert_eq!(base["schedule"]["enabled"], Value::Bool(false));
        assert!(apply_env(
            &mut base,
            "HOTCOLD",
            vec![("HOTCOLD__A____B".into(), "1".into())]
        )
        .is_err());
    }

    /// Regression (fuzz/artifacts/config/crash-74da49b3...): a tagged
    /// mapping in the file and a variable into it panicked.
    #[test]
    fn a_tagged_mapping_takes_variables_without_panic() {
        let mut v: Value = serde_yaml::from_str("link: !custom {bwlimit: off}").unwrap();
        let set = apply_env(
            &mut v,
            "HOTCOLD",
            [("HOTCOLD__LINK__BWLIMIT".to_string(), "1MiB".to_string())],
        )
        .unwrap();
        assert_eq!(set, vec!["link.bwlimit".to_string()]);
        let mut top: Value = serde_yaml::from_str("!top {a: 1}").unwrap();
        apply_env(
            &mut top,
            "HOTCOLD",
            [("HOTCOLD__B".to_string(), "2".to_string())],
        )
        .unwrap();
    }

    #[test]
    fn read_layers_a_file_an_environment_file_and_variables_from_the_world_given() {
        let files = |p: &std::path::Path| match p.to_str() {
            Some("/c/cloud.yaml") => Ok("a: 1\nb: {c: 2, d: 3}\n".to_string()),
            Some("/c/environments/prod.yaml") => Ok("b: {c: 20}\n".to_string()),
            _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        };
        let world = World {
            read_file: &files,
            vars: vec![
                ("HOTCOLD_ENV".into(), "prod".into()),
                ("HOTCOLD__B__D".into(), "30".into()),
                ("PATH".into(), "/bin".into()),
            ],
        };
        let (v, from): (Value, String) =
            read(std::path::Path::new("/c/cloud.yaml"), &world).unwrap();
        assert_eq!(
            v,
            serde_yaml::from_str::<Value>("a: 1\nb: {c: 20, d: 30}\n").unwrap()
        );
        assert_eq!(
            from,
            "/c/cloud.yaml + /c/environments/prod.yaml + environment (b.d)"
        );
        let missing = World {
            read_file: &files,
            vars: vec![("HOTCOLD_ENV".into(), "dev".into())],
        };
        let e = read::<Value>(std::path::Path::new("/c/cloud.yaml"), &missing).unwrap_err();
        assert!(
            e.contains("HOTCOLD_ENV=dev: cannot read /c/environments/dev.yaml"),
            "{e}"
        );
    }
}
