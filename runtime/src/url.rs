//! Database URLs: which database a URL names, and redaction of the password in every
//! message revchain prints.

use std::fmt;

/// The databases revchain speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatabaseKind {
    /// `postgres://` or `postgresql://`.
    Postgres,
    /// `mysql://` or `mariadb://`.
    MySql,
    /// `sqlite:` (a file path, or `:memory:`).
    Sqlite,
}

impl DatabaseKind {
    /// The kind of database `url` names, from its scheme.
    ///
    /// ```
    /// use revchain::url::DatabaseKind;
    /// assert_eq!(DatabaseKind::of("postgres://u@h/db"), Some(DatabaseKind::Postgres));
    /// assert_eq!(DatabaseKind::of("mariadb://root@h/db"), Some(DatabaseKind::MySql));
    /// assert_eq!(DatabaseKind::of("sqlite://app.db"), Some(DatabaseKind::Sqlite));
    /// assert_eq!(DatabaseKind::of("redis://h"), None);
    /// ```
    pub fn of(url: &str) -> Option<DatabaseKind> {
        let scheme = url.split_once(':')?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Some(DatabaseKind::Postgres),
            "mysql" | "mariadb" => Some(DatabaseKind::MySql),
            "sqlite" => Some(DatabaseKind::Sqlite),
            _ => None,
        }
    }
}

impl fmt::Display for DatabaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DatabaseKind::Postgres => "PostgreSQL",
            DatabaseKind::MySql => "MySQL/MariaDB",
            DatabaseKind::Sqlite => "SQLite",
        })
    }
}

/// The byte ranges of the secrets in a URL: the password of the user info and the values
/// of `password`-like query parameters.
fn secret_ranges(url: &str) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let Some(scheme_end) = url.find("://") else {
        return ranges;
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    if let Some(at) = authority.rfind('@') {
        let userinfo = &authority[..at];
        if let Some(colon) = userinfo.find(':') {
            let start = authority_start + colon + 1;
            let end = authority_start + at;
            if end > start {
                ranges.push((start, end));
            }
        }
    }
    if let Some(q) = url.find('?') {
        let mut pos = q + 1;
        for pair in url[q + 1..].split('&') {
            if let Some((key, _)) = pair.split_once('=') {
                let k = key.to_ascii_lowercase();
                if k.contains("password") || k == "pass" || k == "pwd" || k.contains("secret") {
                    let start = pos + key.len() + 1;
                    let end = pos + pair.len();
                    if end > start {
                        ranges.push((start, end));
                    }
                }
            }
            pos += pair.len() + 1;
        }
    }
    ranges
}

/// `url` with its password (and password-like query parameters) replaced by `***`.
///
/// ```
/// use revchain::url::redact;
/// assert_eq!(redact("postgres://app:s3cr%40t@db:5432/shop"), "postgres://app:***@db:5432/shop");
/// assert_eq!(redact("mysql://root@localhost/x?password=hunter2&ssl=1"), "mysql://root@localhost/x?password=***&ssl=1");
/// assert_eq!(redact("sqlite://app.db"), "sqlite://app.db");
/// ```
pub fn redact(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut last = 0;
    for (start, end) in secret_ranges(url) {
        out.push_str(&url[last..start]);
        out.push_str("***");
        last = end;
    }
    out.push_str(&url[last..]);
    out
}

/// `text` with the password of every URL in it replaced by `***` (see [`redact`]): for
/// messages that may quote a URL given where something else was expected.
///
/// ```
/// use revchain::url::redact_urls_in;
/// assert_eq!(
///     redact_urls_in("no revision matches `postgres://app:s3cret@db/shop`; see history"),
///     "no revision matches `postgres://app:***@db/shop`; see history"
/// );
/// ```
pub fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let start = rest[..pos]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .last()
            .map_or(pos, |(i, _)| i);
        let end = rest[pos..]
            .find(|c: char| c.is_whitespace() || matches!(c, '`' | '\'' | '"' | '<' | '>'))
            .map_or(rest.len(), |i| pos + i);
        out.push_str(&rest[..start]);
        out.push_str(&redact(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Removes the secrets of a URL from any text (error messages from drivers, logs): both
/// as written in the URL and percent-decoded.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for the secrets of `url`.
    pub fn for_url(url: &str) -> Redactor {
        let mut secrets = Vec::new();
        for (start, end) in secret_ranges(url) {
            let raw = &url[start..end];
            let decoded = percent_decode(raw);
            // Very short secrets would blank out ordinary words; the URL form is still
            // redacted everywhere revchain prints the URL itself.
            for s in [raw.to_owned(), decoded] {
                if s.len() >= 3 && !secrets.contains(&s) {
                    secrets.push(s);
                }
            }
        }
        // Longest first, so that a secret containing another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    /// `text` with every secret replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo_and_query() {
        assert_eq!(redact("postgres://u:p@h/d"), "postgres://u:***@h/d");
        assert_eq!(redact("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(redact("postgres://u:@h/d"), "postgres://u:@h/d");
        assert_eq!(redact("postgres://u:a@b@h/d"), "postgres://u:***@h/d");
        assert_eq!(
            redact("postgres://h/d?user=u&password=x"),
            "postgres://h/d?user=u&password=***"
        );
        assert_eq!(redact("not a url"), "not a url");
        assert_eq!(redact("postgres://u:pw@h"), "postgres://u:***@h");
    }

    #[test]
    fn redacts_every_url_in_a_text() {
        assert_eq!(
            redact_urls_in("a mysql://u:p1@h/d and 'postgres://v:p2@h/d?password=p3' z"),
            "a mysql://u:***@h/d and 'postgres://v:***@h/d?password=***' z"
        );
        assert_eq!(redact_urls_in("://x:y@z"), "://x:***@z");
        assert_eq!(redact_urls_in("no url here: a:b@c"), "no url here: a:b@c");
        assert_eq!(redact_urls_in("ü://ß:ü@h ://"), "ü://ß:***@h ://");
    }

    #[test]
    fn scrubs_raw_and_decoded() {
        let r = Redactor::for_url("postgres://u:s3cr%40t@h/d");
        assert_eq!(
            r.scrub("auth failed for s3cr@t and s3cr%40t"),
            "auth failed for *** and ***"
        );
        assert_eq!(percent_decode("a%4"), "a%4");
        assert_eq!(percent_decode("%e2%9c%93"), "✓");
    }
}
