//! Database URLs: which database a URL names, and redaction of the password in every
//! message revchain prints.

use std::fmt;

/// The databases revchain speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
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

/// What is shown instead of a URL that cannot be read: it may hold a password anywhere.
const UNPARSEABLE: &str = "<unparseable URL, not shown>";

/// The percent-encodings of the characters that end the user info of a URL, for messages
/// that tell how to write a password holding them.
const ENCODINGS: &str = "`/` as %2F, `?` as %3F, `#` as %23, `@` as %40";

/// A URL cut where redaction needs it. Every URL goes through [`parts`], so that what is
/// hidden and what is checked before connecting follow one reading.
struct Parts<'a> {
    /// The scheme, without its `:`.
    scheme: &'a str,
    /// Whether `//` follows the scheme (a server URL); a SQLite URL may go without.
    slashes: bool,
    /// Where what follows the scheme (and its `//`) starts.
    body: usize,
    /// The byte range of the user info (without its `@`): everything up to the **last**
    /// `@`, so that a password holding an unencoded `@`, `/`, `?` or `#` is hidden whole.
    userinfo: Option<(usize, usize)>,
}

impl Parts<'_> {
    /// Whether revchain can read such a URL at all: a server URL needs `//` after its
    /// scheme (`postgres:user:pw@host/db` is not one); SQLite takes `sqlite:path` too.
    fn readable(&self) -> bool {
        self.slashes || self.scheme.eq_ignore_ascii_case("sqlite")
    }
}

/// `url` cut into [`Parts`], or `None` when it does not start with a scheme.
fn parts(url: &str) -> Option<Parts<'_>> {
    let colon = url.find(':')?;
    let scheme = &url[..colon];
    let mut chars = scheme.chars();
    if !chars.next()?.is_ascii_alphabetic()
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let slashes = url[colon + 1..].starts_with("//");
    let body = colon + 1 + if slashes { 2 } else { 0 };
    let userinfo = url[body..].rfind('@').map(|at| (body, body + at));
    Some(Parts {
        scheme,
        slashes,
        body,
        userinfo,
    })
}

/// Whether `s` holds only characters a user name may hold unencoded (RFC 3986 `unreserved`,
/// `sub-delims` and `%`): such a user name is shown, anything else in the user info is not.
fn is_plain(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~%!$&'()*+,;=".contains(c))
}

/// The byte range of the secret in the user info `start..end` of `url`: the password after
/// a plain user name, or the whole user info when its user name is not plain (or the URL
/// has no `//`, so that nothing says where a user name would end). `None` when the user
/// info is a plain user name without a password.
fn userinfo_secret(
    url: &str,
    p: &Parts<'_>,
    (start, end): (usize, usize),
) -> Option<(usize, usize)> {
    let userinfo = &url[start..end];
    match userinfo.split_once(':') {
        Some((user, _)) if p.slashes && is_plain(user) => Some((start + user.len() + 1, end)),
        None if p.slashes && is_plain(userinfo) => None,
        _ => Some((start, end)),
    }
}

/// The byte ranges of the values of `password`-like parameters in the query of `url`, whose
/// host part starts at `from`.
fn query_secrets(url: &str, from: usize) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let Some(q) = url[from..].find('?').map(|q| from + q) else {
        return ranges;
    };
    let mut pos = q + 1;
    for pair in url[q + 1..].split('&') {
        if let Some((key, _)) = pair.split_once('=') {
            let k = key.to_ascii_lowercase();
            if k.contains("password")
                || k.contains("passwd")
                || k == "pass"
                || k == "pwd"
                || k.contains("secret")
                || k.contains("token")
            {
                ranges.push((pos + key.len() + 1, pos + pair.len()));
            }
        }
        pos += pair.len() + 1;
    }
    ranges
}

/// The byte ranges of the secrets in a readable URL, in order: the password of the user
/// info and the values of `password`-like query parameters.
fn secret_ranges(url: &str, p: &Parts<'_>) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut host = p.body;
    if let Some(userinfo) = p.userinfo {
        ranges.extend(userinfo_secret(url, p, userinfo));
        host = userinfo.1 + 1;
    }
    ranges.extend(query_secrets(url, host));
    ranges
}

/// `url` as revchain shows it, in every message and log line: the password (everything
/// between the scheme and the **last** `@`, whatever it holds, except a plain user name)
/// and `password`-like query parameters are replaced by `***`. A URL that revchain cannot
/// read (no scheme, or a server URL without `//`) is not shown at all: only its scheme.
/// This is the one redaction of URLs in revchain; [`Redactor`] and [`redact_urls_in`]
/// follow the same reading.
///
/// ```
/// use revchain::url::redact;
/// assert_eq!(redact("postgres://app:s3cr%40t@db:5432/shop"), "postgres://app:***@db:5432/shop");
/// assert_eq!(redact("postgresql://u:p/a#s?s@w@host/db"), "postgresql://u:***@host/db");
/// assert_eq!(redact("mysql://root@localhost/x?password=hunter2&ssl=1"), "mysql://root@localhost/x?password=***&ssl=1");
/// assert_eq!(redact("postgres:user:pa55@host/db"), "postgres:<unparseable URL, not shown>");
/// assert_eq!(redact("sqlite://app.db"), "sqlite://app.db");
/// ```
pub fn redact(url: &str) -> String {
    let Some(p) = parts(url) else {
        return UNPARSEABLE.to_owned();
    };
    if !p.readable() {
        // Nothing after the scheme: nothing to hide (a scheme named in a sentence).
        if url.len() == p.scheme.len() + 1 {
            return url.to_owned();
        }
        return format!("{}:{UNPARSEABLE}", p.scheme);
    }
    let mut out = String::with_capacity(url.len());
    let mut last = 0;
    for (start, end) in secret_ranges(url, &p) {
        out.push_str(&url[last..start]);
        out.push_str("***");
        last = end;
    }
    out.push_str(&url[last..]);
    out
}

/// Why a database URL is refused before connecting, so that no driver ever reads (and
/// quotes back) a URL whose password it would take for something else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The URL has no scheme, or is a server URL without `//` after its scheme.
    #[error(
        "the database URL cannot be read{}; it is not shown, as it may hold a password: write \
         it as postgres://<user>:<password>@<host>:5432/<database> (or mysql://…, or \
         sqlite://<path/to/file.db>), with `/`, `?`, `#` and `@` in the password percent-encoded \
         ({ENCODINGS})",
        .scheme.as_ref().map(|s| format!(" (it starts with `{s}:` but not `{s}://`)")).unwrap_or_else(|| " (it has no scheme such as postgres://)".to_owned())
    )]
    Unparseable {
        /// The scheme, when there is one.
        scheme: Option<String>,
    },
    /// Between the scheme and the last `@` there is a `/`, `?` or `#`: a password holding
    /// them unencoded, which a driver would read as the host, path or query.
    #[error(
        "the database URL {url} has a `/`, `?` or `#` before its last `@`: a password (or user \
         name) holding them must be percent-encoded ({ENCODINGS}), and an `@` after the host \
         as %40; the password is not shown"
    )]
    UnencodedUserInfo {
        /// The URL, redacted.
        url: String,
    },
    /// A SQLite URL that names no file: sqlx would open a throwaway in-memory database.
    #[error(
        "the database URL `{url}` names no SQLite file, so it would be a throwaway in-memory \
         database: write sqlite://path/to/file.db (sqlite:///absolute/path.db for an absolute \
         path), or sqlite://file.db?mode=rwc to create the file"
    )]
    EmptySqlitePath {
        /// The URL, redacted.
        url: String,
    },
}

/// Checks that revchain can hand `url` to a driver safely: it has a scheme, a server URL
/// has `//` after it, no `/`, `?` or `#` comes before the last `@` (an unencoded password
/// that the driver would misread, and then quote in its errors as a host, database or
/// parameter), and a SQLite URL names a file (or says `:memory:`). The kind of database
/// it names is [`DatabaseKind::of`]; an unknown scheme passes here.
///
/// ```
/// use revchain::url::check;
/// assert!(check("postgres://app:s3cr%2Ft@db/shop").is_ok());
/// assert!(check("postgres://app:s3cr/t@db/shop").is_err());
/// assert!(check("postgres:app:pw@db/shop").is_err());
/// assert!(check("sqlite://").is_err());
/// assert!(check("sqlite::memory:").is_ok());
/// ```
pub fn check(url: &str) -> Result<(), UrlError> {
    let Some(p) = parts(url) else {
        return Err(UrlError::Unparseable { scheme: None });
    };
    if !p.readable() {
        return Err(UrlError::Unparseable {
            scheme: Some(p.scheme.to_owned()),
        });
    }
    if DatabaseKind::of(url) == Some(DatabaseKind::Sqlite) {
        return check_sqlite(url, &p);
    }
    if let Some((start, end)) = p.userinfo
        && url[start..end].contains(['/', '?', '#'])
    {
        return Err(UrlError::UnencodedUserInfo { url: redact(url) });
    }
    Ok(())
}

/// A SQLite URL must name a file (or `:memory:`): `sqlite:`, `sqlite://`, `sqlite://?mode=rwc`
/// name none.
fn check_sqlite(url: &str, p: &Parts<'_>) -> Result<(), UrlError> {
    let path = &url[p.body..];
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    if path.trim().is_empty() {
        return Err(UrlError::EmptySqlitePath { url: redact(url) });
    }
    Ok(())
}

/// Whether `url` names SQLite's in-memory database (`sqlite::memory:`, `sqlite://:memory:`,
/// or `mode=memory`): gone when the connection closes.
pub fn is_sqlite_memory(url: &str) -> bool {
    let Some(p) = parts(url).filter(|_| DatabaseKind::of(url) == Some(DatabaseKind::Sqlite)) else {
        return false;
    };
    let rest = &url[p.body..];
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    path == ":memory:"
        || query
            .split('&')
            .any(|pair| pair.eq_ignore_ascii_case("mode=memory"))
}

/// `text` with every URL in it shown as [`redact`] shows it: for messages that may quote a
/// URL given where something else was expected. A URL is a scheme followed by `://`, or by
/// `:` for the schemes of the databases revchain knows; it ends at white space or a quote.
///
/// ```
/// use revchain::url::redact_urls_in;
/// assert_eq!(
///     redact_urls_in("no revision matches `postgres://app:s3cret@db/shop`; see history"),
///     "no revision matches `postgres://app:***@db/shop`; see history"
/// );
/// assert_eq!(
///     redact_urls_in("no revision matches `postgres:app:s3cret@db/shop`"),
///     "no revision matches `postgres:<unparseable URL, not shown>`"
/// );
/// ```
pub fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    let mut search = 0;
    while let Some(colon) = text[search..].find(':').map(|c| search + c) {
        let start = text[done..colon]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .last()
            .map_or(colon, |(i, _)| done + i);
        let scheme = &text[start..colon];
        let is_url = text[colon + 1..].starts_with("//")
            || (DatabaseKind::of(&format!("{scheme}:")).is_some()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic()));
        if !is_url {
            search = colon + 1;
            continue;
        }
        let end = text[colon..]
            .find(|c: char| c.is_whitespace() || matches!(c, '`' | '\'' | '"' | '<' | '>'))
            .map_or(text.len(), |i| colon + i);
        // Punctuation that ends the sentence around the URL is not part of it.
        let end = colon
            + 1
            + text[colon + 1..end]
                .trim_end_matches([':', ',', ';', '.', ')', '!'])
                .len();
        out.push_str(&text[done..start]);
        if start == colon {
            // `://` without a scheme: its user info still goes.
            out.push_str(&redact(&format!("x{}", &text[start..end]))[1..]);
        } else {
            out.push_str(&redact(&text[start..end]));
        }
        done = end;
        search = end;
    }
    out.push_str(&text[done..]);
    out
}

/// Removes the secrets of a URL from any text (error messages from drivers, logs): both
/// as written in the URL and percent-decoded.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for the secrets of `url` (as [`redact`] finds them; for a URL that
    /// cannot be read, everything after its scheme).
    pub fn for_url(url: &str) -> Redactor {
        let ranges = match parts(url) {
            Some(p) if p.readable() => secret_ranges(url, &p),
            Some(p) => vec![(p.scheme.len() + 1, url.len())],
            None => vec![(0, url.len())],
        };
        let mut secrets = Vec::new();
        for (start, end) in ranges {
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

    /// Adds the secrets of `other`.
    pub fn extend(&mut self, other: Redactor) {
        for s in other.secrets {
            if !self.secrets.contains(&s) {
                self.secrets.push(s);
            }
        }
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
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

    /// `text` with every secret replaced by `***` and every URL in it redacted (see
    /// [`redact_urls_in`]): for error messages and log lines.
    pub fn scrub_message(&self, text: &str) -> String {
        redact_urls_in(&self.scrub(text))
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
        assert_eq!(redact("postgres://u:@h/d"), "postgres://u:***@h/d");
        assert_eq!(redact("postgres://u:a@b@h/d"), "postgres://u:***@h/d");
        assert_eq!(
            redact("postgres://h/d?user=u&password=x"),
            "postgres://h/d?user=u&password=***"
        );
        assert_eq!(redact("postgres://u:pw@h"), "postgres://u:***@h");
    }

    #[test]
    fn redacts_up_to_the_last_at_whatever_the_password_holds() {
        for (url, shown) in [
            (
                "postgresql://u:p/a#s?s@w@host/db",
                "postgresql://u:***@host/db",
            ),
            (
                "mysql://root:se@cret@127.0.0.1/x",
                "mysql://root:***@127.0.0.1/x",
            ),
            (
                "postgres://u:a/b@h/d?sslmode=x",
                "postgres://u:***@h/d?sslmode=x",
            ),
            ("postgres://u:a?password=b@h/d", "postgres://u:***@h/d"),
            ("postgres://a/b:c@h/d", "postgres://***@h/d"),
            ("postgres://pa55/word@h/d", "postgres://***@h/d"),
            ("postgres://us er:x@h/d", "postgres://***@h/d"),
            ("sqlite:user:pa55@host", "sqlite:***@host"),
            ("sqlite::memory:", "sqlite::memory:"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }

    #[test]
    fn never_shows_an_unparseable_url() {
        assert_eq!(
            redact("postgres:user:pa55@host/db"),
            "postgres:<unparseable URL, not shown>"
        );
        assert_eq!(redact("user:hunter2"), "user:<unparseable URL, not shown>");
        assert_eq!(redact("hunter2"), "<unparseable URL, not shown>");
        assert_eq!(redact("//u:p@h"), "<unparseable URL, not shown>");
        assert_eq!(redact("postgres:"), "postgres:");
    }

    #[test]
    fn checks_what_a_driver_would_misread() {
        assert_eq!(check("postgres://u:p%2Fw@h/d"), Ok(()));
        assert_eq!(check("mysql://root:se@cret@127.0.0.1/x"), Ok(()));
        assert_eq!(check("postgres://h/d?application_name=a%40b"), Ok(()));
        assert_eq!(check("redis://h"), Ok(()));
        assert!(matches!(
            check("postgresql://u:p/a#s?s@w@host/db"),
            Err(UrlError::UnencodedUserInfo { url }) if url == "postgresql://u:***@host/db"
        ));
        assert!(matches!(
            check("postgres:user:pa55@host/db"),
            Err(UrlError::Unparseable { scheme: Some(s) }) if s == "postgres"
        ));
        assert_eq!(check("pa55"), Err(UrlError::Unparseable { scheme: None }));
        let e = check("postgres:user:pa55@host/db").unwrap_err().to_string();
        assert!(!e.contains("pa55") && e.contains("postgres://"), "{e}");
    }

    #[test]
    fn sqlite_urls_must_name_a_file() {
        for url in [
            "sqlite:",
            "sqlite://",
            "sqlite://?mode=rwc",
            "SQLITE: ",
            "sqlite:?mode=rwc",
        ] {
            assert!(
                matches!(check(url), Err(UrlError::EmptySqlitePath { .. })),
                "{url}"
            );
        }
        for url in [
            "sqlite://app.db",
            "sqlite:app.db",
            "sqlite:///tmp/a@b/x.db",
            "sqlite::memory:",
        ] {
            assert_eq!(check(url), Ok(()), "{url}");
        }
        assert!(is_sqlite_memory("sqlite::memory:"));
        assert!(is_sqlite_memory("sqlite://:memory:"));
        assert!(is_sqlite_memory("sqlite://x.db?mode=memory&cache=shared"));
        assert!(!is_sqlite_memory("sqlite://x.db"));
        assert!(!is_sqlite_memory("postgres://h/:memory:"));
    }

    #[test]
    fn redacts_every_url_in_a_text() {
        assert_eq!(
            redact_urls_in("a mysql://u:p1@h/d and 'postgres://v:p2@h/d?password=p3' z"),
            "a mysql://u:***@h/d and 'postgres://v:***@h/d?password=***' z"
        );
        assert_eq!(redact_urls_in("://x:y@z"), "://x:***@z");
        assert_eq!(redact_urls_in("no url here: a:b@c"), "no url here: a:b@c");
        assert_eq!(redact_urls_in("ü://ß:ü@h ://"), "ü://***@h ://");
        assert_eq!(
            redact_urls_in("see m/a.sql:12: bad `postgres:u:pw@h` and mysql://r:a/b@h."),
            "see m/a.sql:12: bad `postgres:<unparseable URL, not shown>` and mysql://r:***@h."
        );
        assert_eq!(
            redact_urls_in("cannot connect to postgres://h/d?password=x1: refused"),
            "cannot connect to postgres://h/d?password=***: refused"
        );
        assert_eq!(
            redact_urls_in("use postgres://…, mysql://… or sqlite://…"),
            "use postgres://…, mysql://… or sqlite://…"
        );
    }

    #[test]
    fn scrubs_raw_and_decoded() {
        let r = Redactor::for_url("postgres://u:s3cr%40t@h/d");
        assert_eq!(
            r.scrub("auth failed for s3cr@t and s3cr%40t"),
            "auth failed for *** and ***"
        );
        let r = Redactor::for_url("postgres:user:pa55w0rd@h/d");
        assert!(
            !r.scrub("database \"user:pa55w0rd@h/d\"")
                .contains("pa55w0rd")
        );
        let r = Redactor::for_url("postgresql://u:p/a#s?s@w@host/db");
        assert_eq!(r.scrub("x p/a#s?s@w y"), "x *** y");
        assert_eq!(percent_decode("a%4"), "a%4");
        assert_eq!(percent_decode("%e2%9c%93"), "✓");
    }
}
