//! Reading a function's configuration from environment variables: one place for the parsing
//! rules, so every function names a bad variable the same way.

#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

/// A function's configuration, read from its environment variables.
pub trait FromEnv: Sized {
    /// The configuration from `get` (the process environment, or a map in tests).
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError>;

    fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// The configuration from these variables alone (tests); a later pair overrides an
    /// earlier one of the same name.
    fn from_pairs(vars: &[(&str, &str)]) -> Result<Self, ConfigError> {
        Self::from_lookup(|k| {
            let mut named = vars.iter().rev().filter(|(name, _)| *name == k);
            named.next().map(|(_, v)| (*v).to_owned())
        })
    }
}

/// A lookup of variables (the process environment, or a map in tests).
pub struct Env<F: Fn(&str) -> Option<String>>(pub F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// The trimmed value, `None` when unset or blank.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError {
            name,
            reason: "is not set".into(),
        })
    }

    pub fn number(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| ConfigError {
                name,
                reason: format!("`{v}` is not a whole number"),
            }),
        }
    }

    pub fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes") => Ok(true),
            Some(v) if matches!(v.as_str(), "false" | "0" | "no") => Ok(false),
            Some(v) => Err(ConfigError {
                name,
                reason: format!("`{v}` is not true or false"),
            }),
        }
    }

    /// Comma-separated, blanks dropped.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }

    /// A required list of 12-digit account ids.
    pub fn accounts(&self, name: &'static str) -> Result<Vec<String>, ConfigError> {
        let accounts = self.list(name).ok_or(ConfigError {
            name,
            reason: "is not set".into(),
        })?;
        if let Some(bad) = accounts
            .iter()
            .find(|a| a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ConfigError {
                name,
                reason: format!("`{bad}` is not a 12-digit account id"),
            });
        }
        Ok(accounts)
    }

    /// An optional `s3://bucket/key`.
    pub fn s3_uri(&self, name: &'static str) -> Result<Option<(String, String)>, ConfigError> {
        let Some(uri) = self.get(name) else {
            return Ok(None);
        };
        match uri.strip_prefix("s3://").and_then(|r| r.split_once('/')) {
            Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
                Ok(Some((bucket.to_owned(), key.to_owned())))
            }
            _ => Err(ConfigError {
                name,
                reason: format!("`{uri}` is not s3://bucket/key"),
            }),
        }
    }
}
