//! Identifiers and values parsed once at the edge. Past the edge, code holds these types
//! and never re-validates strings.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

/// Why a value was refused at the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    #[error(
        "{field} must be 1 to {max} characters of letters, digits, '-', '_', '.', ':', '@' or '|'"
    )]
    Id { field: &'static str, max: usize },
    #[error("'{0}' is not a valid email address")]
    Email(String),
    #[error("return_to must be an absolute https URL on an allowed frontend origin")]
    ReturnUrl,
    #[error("unknown provider '{0}'")]
    Provider(String),
}

const ID_MAX: usize = 128;

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@' | '|')
}

fn parse_id(field: &'static str, raw: &str) -> Result<String, InvalidValue> {
    if raw.is_empty() || raw.len() > ID_MAX || !raw.chars().all(is_id_char) {
        return Err(InvalidValue::Id { field, max: ID_MAX });
    }
    Ok(raw.to_owned())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
                parse_id($field, raw).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// The platform's team (tenant). Comes from the JWT authorizer's claims only.
    TeamId,
    "team id"
);
id_type!(
    /// A person on the platform. Comes from the JWT authorizer's claims only.
    UserId,
    "user id"
);
id_type!(
    /// A connected social account, as tokenwarden names it.
    AccountId,
    "account id"
);

impl AccountId {
    /// A fresh random id for a newly connected account.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }
}

/// An email address, checked for the shape mail servers accept (not for existence).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let bad = || InvalidValue::Email(raw.chars().take(80).collect());
        let trimmed = raw.trim();
        if trimmed.len() > 254 || trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = trimmed.rsplit_once('@').ok_or_else(bad)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
        } else {
            Err(bad())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = InvalidValue;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<EmailAddress> for String {
    fn from(e: EmailAddress) -> String {
        e.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The frontend origins a browser may be sent back to after OAuth.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginAllowlist(Vec<String>);

impl OriginAllowlist {
    /// Parses a comma-separated list of origins such as `https://app.example.com`.
    /// `http://localhost` and `http://127.0.0.1` origins are accepted for local runs.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let mut origins = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let url = Url::parse(part).map_err(|_| InvalidValue::ReturnUrl)?;
            if !origin_scheme_allowed(&url) || url.path() != "/" || url.query().is_some() {
                return Err(InvalidValue::ReturnUrl);
            }
            origins.push(url.origin().ascii_serialization());
        }
        Ok(Self(origins))
    }

    pub fn contains(&self, origin: &str) -> bool {
        self.0.iter().any(|o| o == origin)
    }

    pub fn origins(&self) -> &[String] {
        &self.0
    }
}

fn origin_scheme_allowed(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => matches!(url.host_str(), Some("localhost") | Some("127.0.0.1")),
        _ => false,
    }
}

/// A URL on an allowed frontend origin, where the browser goes after OAuth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct ReturnUrl(Url);

impl ReturnUrl {
    /// Accepts only an absolute URL whose exact origin is on the allowlist. Relative,
    /// scheme-relative (`//evil.example`), backslash, userinfo and encoded-host tricks fail.
    pub fn parse(raw: &str, allow: &OriginAllowlist) -> Result<Self, InvalidValue> {
        if raw.len() > 2048
            || raw.contains('\\')
            || raw.chars().any(|c| c.is_control() || c.is_whitespace())
            || !(raw.starts_with("https://") || raw.starts_with("http://"))
        {
            return Err(InvalidValue::ReturnUrl);
        }
        let url = Url::parse(raw).map_err(|_| InvalidValue::ReturnUrl)?;
        let authority = &raw[raw.find("//").map(|i| i + 2).unwrap_or(0)..];
        let authority = authority.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('%') || authority.contains('@') {
            return Err(InvalidValue::ReturnUrl);
        }
        if !url.username().is_empty() || url.password().is_some() || !origin_scheme_allowed(&url) {
            return Err(InvalidValue::ReturnUrl);
        }
        if !allow.contains(&url.origin().ascii_serialization()) {
            return Err(InvalidValue::ReturnUrl);
        }
        Ok(Self(url))
    }

    /// For values that were checked when stored (an OAuth state read back).
    pub fn from_trusted(url: Url) -> Self {
        Self(url)
    }

    pub fn url(&self) -> &Url {
        &self.0
    }

    /// This URL with the given query parameters added (the OAuth result code).
    pub fn with_params(&self, params: &[(&str, &str)]) -> Url {
        let mut url = self.0.clone();
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in params {
                q.append_pair(k, v);
            }
        }
        url
    }
}

impl From<ReturnUrl> for String {
    fn from(r: ReturnUrl) -> String {
        r.0.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow() -> OriginAllowlist {
        OriginAllowlist::parse("https://app.example.com, http://localhost:5173").unwrap()
    }

    #[test]
    fn ids_refuse_empty_long_and_odd_characters() {
        assert!(TeamId::parse("team-1").is_ok());
        assert!(TeamId::parse("").is_err());
        assert!(TeamId::parse(&"a".repeat(129)).is_err());
        assert!(AccountId::parse("a#b").is_err());
        assert!(UserId::parse("auth0|abc").is_ok());
        assert!(UserId::parse("a b").is_err());
    }

    #[test]
    fn emails_are_checked_and_domain_lowercased() {
        assert_eq!(
            EmailAddress::parse("Ana@Example.COM").unwrap().as_str(),
            "Ana@example.com"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@x.com",
            "ana@x",
            "a..b@x.com",
            "a b@x.com",
            "ana@-x.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn return_url_accepts_only_allowlisted_origins() {
        let a = allow();
        assert!(ReturnUrl::parse("https://app.example.com/settings/social", &a).is_ok());
        assert!(ReturnUrl::parse("http://localhost:5173/x", &a).is_ok());
        for bad in [
            "//evil.example",
            "/settings",
            "https://app.example.com.evil.example/",
            "https://evil.example/https://app.example.com",
            "https:\\\\evil.example",
            "https://app.example.com\\@evil.example",
            "https://app.example.com%2eevil.example/",
            "https://evil%2eexample/",
            "https://app.example.com@evil.example/",
            "http://app.example.com/",
            "javascript:alert(1)",
            "https://app.example.com:444/",
        ] {
            assert!(ReturnUrl::parse(bad, &a).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn return_url_params_are_appended_encoded() {
        let r = ReturnUrl::parse("https://app.example.com/s?tab=1", &allow()).unwrap();
        let u = r.with_params(&[("result", "connected"), ("account", "a b")]);
        assert_eq!(
            u.as_str(),
            "https://app.example.com/s?tab=1&result=connected&account=a+b"
        );
    }
}
