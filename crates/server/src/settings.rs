//! Settings loading: defaults < optional TOML file < `PREFIX_*` environment variables.
//!
//! A service describes its settings as one flat struct with `#[serde(default,
//! deny_unknown_fields)]`; field `database_url` is read from `database_url` in the file and from
//! `PREFIX_DATABASE_URL` in the environment. The file is named by `PREFIX_CONFIG`. An unknown
//! variable with the prefix, or a value of the wrong form, stops start-up with one line that
//! names the setting, so a typo never silently falls back to a default.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use figment::{
    Figment,
    error::Kind,
    providers::{Format, Serialized, Toml},
};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};

/// A setting that could not be loaded; the message names it and never shows a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// `PREFIX_CONFIG` names a file that cannot be read.
    #[error("{var}: cannot read config file {path}: {reason}")]
    File {
        /// The variable that named the file.
        var: String,
        /// The path it named.
        path: PathBuf,
        /// Why it could not be read.
        reason: String,
    },
    /// A setting that is not known.
    #[error("unknown setting {0}")]
    Unknown(String),
    /// A setting with a value of the wrong form, or a required one missing.
    #[error("invalid setting {setting}: {reason}")]
    Invalid {
        /// The variable or file key.
        setting: String,
        /// What was wrong with it.
        reason: String,
    },
}

/// Where the settings come from, so that tests need not touch the process environment.
#[derive(Debug, Clone)]
pub struct Sources<'a> {
    /// Variable prefix without the trailing underscore, e.g. `PERMESI`.
    pub prefix: &'a str,
    /// Variables that share the prefix but belong to something else (e.g. the console's
    /// build-time `PERMESI_API_BASE_URL`), named without the prefix, lowercase.
    pub foreign: &'a [&'a str],
}

impl Sources<'_> {
    fn env_name(&self, key: &str) -> String {
        format!("{}_{}", self.prefix, key.to_ascii_uppercase())
    }
}

/// Loads settings of type `T` from the process environment and the optional config file.
pub fn load<T: DeserializeOwned>(sources: &Sources<'_>) -> Result<T, SettingsError> {
    load_from(sources, std::env::vars())
}

/// Loads settings from the given variables (the process environment in production).
pub fn load_from<T: DeserializeOwned>(
    sources: &Sources<'_>,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<T, SettingsError> {
    let env_prefix = format!("{}_", sources.prefix);
    let config_var = format!("{env_prefix}CONFIG");
    let all: Vec<(String, String)> = vars.into_iter().collect();
    let config_file = all
        .iter()
        .find(|(k, _)| *k == config_var)
        .map(|(_, v)| v.clone());
    let vars: Vec<(String, String)> = all
        .into_iter()
        .filter(|(k, _)| k.starts_with(&env_prefix) && *k != config_var)
        .filter(|(k, _)| {
            let key = k[env_prefix.len()..].to_ascii_lowercase();
            !sources.foreign.contains(&key.as_str())
        })
        .collect();
    let mut figment = Figment::new();
    if let Some(path) = config_file {
        figment = figment.merge(Toml::file_exact(check_file(&config_var, Path::new(&path))?));
    }
    // Every variable is a string; `extract_lossy` turns "2048" into a number only where the
    // setting is a number, so a numeric-looking password stays a string.
    let env: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k[env_prefix.len()..].to_ascii_lowercase(), v.clone()))
        .collect();
    figment = figment.merge(Serialized::defaults(env));
    figment
        .extract_lossy::<T>()
        .map_err(|e| describe(sources, &vars, &e))
}

fn check_file(var: &str, path: &Path) -> Result<PathBuf, SettingsError> {
    std::fs::metadata(path)
        .map_err(|e| SettingsError::File {
            var: var.to_owned(),
            path: path.to_owned(),
            reason: e.to_string(),
        })
        .map(|_| path.to_owned())
}

fn describe(
    sources: &Sources<'_>,
    vars: &[(String, String)],
    err: &figment::Error,
) -> SettingsError {
    let from_env = |key: &str| {
        let name = sources.env_name(key);
        vars.iter().any(|(k, _)| *k == name).then_some(name)
    };
    let key = err.path.last().cloned().unwrap_or_default();
    let setting = |key: &str| from_env(key).unwrap_or_else(|| format!("`{key}` (config file)"));
    match &err.kind {
        Kind::UnknownField(field, _) => SettingsError::Unknown(setting(field)),
        Kind::MissingField(field) => SettingsError::Invalid {
            setting: sources.env_name(field),
            reason: "is required".to_owned(),
        },
        // Values are never echoed: a mistyped secret must not reach the log.
        Kind::InvalidType(_, expected) | Kind::InvalidValue(_, expected) => {
            SettingsError::Invalid {
                setting: setting(&key),
                reason: format!("expected {expected}"),
            }
        }
        Kind::Message(msg) => SettingsError::Invalid {
            setting: setting(&key),
            reason: msg.clone(),
        },
        other => SettingsError::Invalid {
            setting: setting(&key),
            reason: other.to_string(),
        },
    }
}

/// Deserializes a list from either a sequence (TOML) or a comma-separated string (environment).
pub fn comma_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match Either::deserialize(deserializer)? {
        Either::List(items) => items,
        Either::Csv(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// The console's origins in development: the Trunk server and the HAProxy front.
pub fn default_cors_origins() -> Vec<String> {
    [
        "http://localhost:8080",
        "http://127.0.0.1:8080",
        "http://permesi.localhost:8080",
        "https://permesi.localhost",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Bounds on the HTTP limits every service has, named with the service's `prefix`.
pub fn validate_http_limits(
    prefix: &str,
    max_body_bytes: usize,
    request_timeout_ms: u64,
) -> Result<(), SettingsError> {
    if !(256..=16 * 1024 * 1024).contains(&max_body_bytes) {
        return Err(SettingsError::Invalid {
            setting: format!("{prefix}_MAX_BODY_BYTES"),
            reason: "must be between 256 and 16777216".to_owned(),
        });
    }
    if !(100..=300_000).contains(&request_timeout_ms) {
        return Err(SettingsError::Invalid {
            setting: format!("{prefix}_REQUEST_TIMEOUT_MS"),
            reason: "must be between 100 and 300000".to_owned(),
        });
    }
    Ok(())
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Pretty when stderr is a terminal, JSON otherwise.
    #[default]
    Auto,
    /// Human-readable, coloured.
    Pretty,
    /// One JSON object per line.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ListenAddr, Secret};

    #[derive(Debug, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Demo {
        listen: ListenAddr,
        database_url: Option<Secret<String>>,
        max_body_bytes: usize,
        #[serde(deserialize_with = "comma_list")]
        cors_origins: Vec<String>,
        log_format: LogFormat,
    }

    impl Default for Demo {
        fn default() -> Self {
            Self {
                listen: "127.0.0.1:8001".parse().unwrap(),
                database_url: None,
                max_body_bytes: 1024,
                cors_origins: vec!["http://localhost:8080".into()],
                log_format: LogFormat::Auto,
            }
        }
    }

    const SRC: Sources<'static> = Sources {
        prefix: "DEMO",
        foreign: &["api_base_url"],
    };

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn defaults_apply_without_variables() {
        let d: Demo = load_from(&SRC, vars(&[("PATH", "/bin")])).unwrap();
        assert_eq!(d.max_body_bytes, 1024);
        assert_eq!(d.log_format, LogFormat::Auto);
        assert!(d.database_url.is_none());
    }

    #[test]
    fn environment_overrides_defaults() {
        let d: Demo = load_from(
            &SRC,
            vars(&[
                ("DEMO_LISTEN", "unix:/tmp/demo.sock"),
                ("DEMO_MAX_BODY_BYTES", "2048"),
                ("DEMO_CORS_ORIGINS", "https://a.example, https://b.example"),
                ("DEMO_LOG_FORMAT", "json"),
                ("DEMO_DATABASE_URL", "postgres://u:pw@h/db"),
                ("DEMO_API_BASE_URL", "http://ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(d.listen, ListenAddr::Unix("/tmp/demo.sock".into()));
        assert_eq!(d.max_body_bytes, 2048);
        assert_eq!(d.cors_origins, ["https://a.example", "https://b.example"]);
        assert_eq!(d.log_format, LogFormat::Json);
        assert_eq!(d.database_url.unwrap().expose(), "postgres://u:pw@h/db");
    }

    #[test]
    fn unknown_variable_is_refused_by_name() {
        let err = load_from::<Demo>(&SRC, vars(&[("DEMO_DATABSE_URL", "x")])).unwrap_err();
        assert_eq!(err.to_string(), "unknown setting DEMO_DATABSE_URL");
    }

    #[test]
    fn invalid_value_is_refused_by_name_without_echoing_it() {
        let err = load_from::<Demo>(&SRC, vars(&[("DEMO_MAX_BODY_BYTES", "lots-secret")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid setting DEMO_MAX_BODY_BYTES"),
            "{err}"
        );
        assert!(!err.contains("lots-secret"), "{err}");
        let err = load_from::<Demo>(&SRC, vars(&[("DEMO_LISTEN", "nowhere")]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid setting DEMO_LISTEN"), "{err}");
    }

    #[test]
    fn numeric_looking_strings_stay_strings() {
        let d: Demo = load_from(&SRC, vars(&[("DEMO_DATABASE_URL", "12345")])).unwrap();
        assert_eq!(d.database_url.unwrap().expose(), "12345");
    }
}
