//! End to end: the release binary of `example-app`, copied alone into an empty directory,
//! migrates a database with its embedded CLI, serves HTTP on the migrated schema, and
//! downgrades, on SQLite (the default database, a file in the working directory),
//! PostgreSQL and MariaDB. No source file is at hand when it runs.
//!
//! The binary is built by `cargo build --release -p example-app` with its own target
//! directory (`<target>/e2e`): the outer `cargo test` holds the lock of its own target
//! directory, and a separate one is incremental across runs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use revchain_tests::{Kind, TestDb, target_subdir, try_cargo, workspace_root};
use serde_json::{Value, json};

/// The head the example app embeds (a portable Rust revision that backfills `users.handle`),
/// the revision below it (adds the column), the SQL data migration below that, and the merge
/// point below that.
const HEAD: &str = "a8b0c2d4e6f8";
const BELOW_HEAD: &str = "f3a5c7e9b1d3";
const SIGNUPS: &str = "e61f8a2b4d57";
const MERGE: &str = "b28c4d6e0f13";
/// How `current` lists the applied repeatable view.
const VIEW: &str = "v_user_activity (repeatable)";

/// Builds (or finds up to date) the release binary, once per test process.
fn release_binary() -> PathBuf {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BINARY.get_or_init(build_release) {
        Ok(path) => path.clone(),
        Err(e) => panic!("{e}"),
    }
}

fn build_release() -> Result<PathBuf, String> {
    // `<target>/e2e`, beside the profile directory this test runs from.
    let target = target_subdir("e2e");
    let started = Instant::now();
    try_cargo(
        &workspace_root(),
        Some(&target),
        &["build", "--release", "--locked", "-p", "example-app"],
    )?;
    eprintln!(
        "example-app release build: {:.1?} (target dir {})",
        started.elapsed(),
        target.display()
    );
    let binary = target
        .join("release")
        .join(format!("example-app{}", std::env::consts::EXE_SUFFIX));
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!("{} was not built", binary.display()))
    }
}

/// The release binary alone in an empty directory, with an optional `DATABASE_URL`.
struct App {
    dir: tempfile::TempDir,
    binary: PathBuf,
    url: Option<String>,
    /// Secrets that must never appear in anything the app prints.
    secret: Option<String>,
    /// Everything the app printed, for the secret check.
    printed: Mutex<String>,
}

impl App {
    fn new(url: Option<String>, secret: Option<String>) -> App {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let binary = dir
            .path()
            .join(format!("example-app{}", std::env::consts::EXE_SUFFIX));
        std::fs::copy(release_binary(), &binary).expect("copying the binary");
        assert_eq!(entries(dir.path()), [file_name(&binary)]);
        App {
            dir,
            binary,
            url,
            secret,
            printed: Mutex::new(String::new()),
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.current_dir(self.dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("PORT")
            .env_remove("BIND_ADDR")
            .env_remove("MIGRATE_ON_START")
            .env_remove("REVCHAIN_DIR")
            .env("RUST_LOG", "warn,example_app=info,revchain=info");
        if let Some(url) = &self.url {
            c.env("DATABASE_URL", url);
        }
        c
    }

    fn record(&self, text: &str) {
        self.printed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_str(text);
    }

    /// Runs `example-app <args>` to completion.
    fn run(&self, args: &[&str]) -> Output {
        let out = output_retrying(self.command().args(args).stdin(Stdio::null()));
        self.record(&String::from_utf8_lossy(&out.stdout));
        self.record(&String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Runs `example-app <args>`, which must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "example-app {args:?} failed ({:?}):\n{}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    /// Starts `example-app serve --bind 127.0.0.1:0 <args>` and waits for its address.
    fn serve(&self, args: &[&str]) -> Server {
        let started = Instant::now();
        let mut command = self.command();
        command
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = retrying_busy(|| command.spawn());
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let reader = {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("listening on http://").nth(1) {
                        let addr = rest.split_whitespace().next().unwrap_or_default();
                        let _ = tx.send(addr.to_owned());
                    }
                    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                    log.push_str(&line);
                    log.push('\n');
                }
            })
        };
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr.parse().expect("a socket address in the log"),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = reader.join();
                panic!(
                    "example-app did not start listening:\n{}",
                    log.lock().unwrap_or_else(|p| p.into_inner())
                );
            }
        };
        Server {
            child,
            addr,
            started,
            log,
            reader: Some(reader),
        }
    }

    /// Starts the server expecting it to refuse; returns its exit code and log.
    fn serve_fails(&self, args: &[&str]) -> (Option<i32>, String) {
        let out = self.run(&[&["serve", "--bind", "127.0.0.1:0"], args].concat());
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn assert_no_secret_printed(&self) {
        if let Some(secret) = &self.secret {
            let printed = self.printed.lock().unwrap_or_else(|p| p.into_inner());
            assert!(!printed.is_empty());
            assert!(
                !printed.contains(secret.as_str()),
                "the database password was printed:\n{printed}"
            );
        }
    }
}

/// A running `example-app serve`.
struct Server {
    child: Child,
    addr: SocketAddr,
    started: Instant,
    log: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn get(&self, path: &str) -> Response {
        http(self.addr, "GET", path, None)
    }

    fn post(&self, path: &str, body: &Value) -> Response {
        http(self.addr, "POST", path, Some(&body.to_string()))
    }

    /// Stops it with SIGTERM (as Kubernetes does) and checks that it exits cleanly; returns
    /// its log.
    fn stop(mut self, app: &App) -> String {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("running kill");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the server") {
                break status;
            }
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner()).clone();
        app.record(&log);
        assert!(status.success(), "the server exited with {status}:\n{log}");
        assert!(log.contains("stopped"), "{log}");
        log
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    json: Value,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `error.code` of an error answer.
    fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or_default()
    }
}

/// A minimal HTTP/1.1 client: one request per connection, `Connection: close`.
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Response {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or_default());
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("receive");
    let text = String::from_utf8(raw).expect("a UTF-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("headers, then a body");
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    let json = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {body:?}"));
    let content_type = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_str());
    assert_eq!(content_type, Some("application/json"), "{method} {path}");
    Response {
        status,
        headers,
        json,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("reading the directory")
        .map(|e| file_name(&e.expect("an entry").path()))
        .collect();
    names.sort();
    names
}

/// The whole story on one database; `database` is how `/health` names it.
/// The `handle` of the first users, through the app's `GET /users`.
fn handles(server: &Server) -> Vec<Value> {
    let page = server.get("/users?limit=10");
    assert_eq!(page.status, 200, "{page:?}");
    let users = page.json["users"].as_array().cloned().unwrap_or_default();
    users.iter().map(|u| u["handle"].clone()).collect()
}

fn scenario(app: &App, database: &str) {
    // The embedded CLI works without a database for the graph commands.
    assert_eq!(
        app.ok(&["migrate", "heads"]),
        format!("{HEAD} (rust) (head)\n")
    );
    let history = app.ok(&["migrate", "history"]);
    assert!(
        history.contains(&format!(
            "\n{BELOW_HEAD} -> {HEAD} (rust) (head), backfill user handles\n\
             {SIGNUPS} -> {BELOW_HEAD}, add users.handle\n\
             {MERGE} -> {SIGNUPS}, backfill signup dates"
        )),
        "{history}"
    );
    assert!(
        history.contains(&format!(
            "7d3a2b8c6e10, 9e5f1a7b3c42 -> {MERGE} (mergepoint)"
        )),
        "{history}"
    );
    assert!(
        history.starts_with("<repeatable> (b28c4d6e0f13) -> v_user_activity (repeatable)"),
        "{history}"
    );
    assert_eq!(history.lines().count(), 8, "{history}");

    // Upgrade to head with the embedded migrations.
    let up = app.run(&["migrate", "upgrade", "head"]);
    let log = String::from_utf8_lossy(&up.stderr);
    assert!(up.status.success(), "{log}");
    assert!(
        log.contains(&format!("upgrading 7 revision(s) from base to {HEAD}")),
        "{log}"
    );
    assert_eq!(
        app.ok(&["migrate", "current"]),
        format!("{HEAD} (head)\n{VIEW}\n")
    );
    assert!(app.ok(&["migrate", "check"]).contains(
        "The database is up to date (7 revision(s) and 1 repeatable revision(s) applied)"
    ));

    // Serve on the up-to-date database: one query at start, then the first request.
    let server = app.serve(&[]);
    let health = server.get("/health");
    let first_request = server.started.elapsed();
    eprintln!("{database}: start to first answered request: {first_request:.1?}");
    assert_eq!(health.status, 200, "{health:?}");
    assert_eq!(
        health.json,
        json!({
            "status": "ok",
            "database": database,
            "revision": HEAD,
            "head": HEAD,
            "at_head": true,
        })
    );

    // The resource, on the migrated schema.
    let created = server.post(
        "/users",
        &json!({ "email": "  Ada@Example.COM ", "name": "Ada Lovelace" }),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.json["id"].as_i64().expect("an id");
    assert_eq!(
        created.header("location"),
        Some(format!("/users/{id}").as_str())
    );
    assert_eq!(created.json["email"], "ada@example.com");
    assert_eq!(created.json["name"], "Ada Lovelace");
    assert_eq!(created.json["handle"], "ada-lovelace");
    let created_at = created.json["created_at"].as_str().expect("created_at");
    assert!(
        created_at.ends_with('Z') && created_at.len() == 24,
        "{created_at}"
    );

    let fetched = server.get(&format!("/users/{id}"));
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json, created.json);

    let second = server.post(
        "/users",
        &json!({ "email": "grace@example.com", "name": "Grace" }),
    );
    assert_eq!(second.status, 201, "{second:?}");
    assert_ne!(second.json["id"], created.json["id"]);
    let page = server.get("/users?limit=1");
    assert_eq!(page.status, 200);
    assert_eq!(page.json["users"][0], created.json);
    assert_eq!(page.json["next_after"], id);

    let events = server.get(&format!("/users/{id}/events"));
    assert_eq!(events.status, 200);
    assert_eq!(
        events.json,
        json!({ "user_id": id, "events": [{ "seq": 1, "kind": "created", "created_at": created_at }] })
    );
    // The `user_activity` view, a repeatable revision applied after the versioned ones.
    let activity = server.get("/activity");
    assert_eq!(activity.status, 200, "{activity:?}");
    assert_eq!(
        activity.json["users"][0],
        json!({ "user_id": id, "email": "ada@example.com", "events": 1 })
    );
    assert_eq!(activity.json["users"].as_array().map(Vec::len), Some(2));

    // Errors: JSON with the right status codes.
    let duplicate = server.post(
        "/users",
        &json!({ "email": "ada@example.com", "name": "Ada" }),
    );
    assert_eq!(
        (duplicate.status, duplicate.error_code()),
        (409, "conflict")
    );
    let invalid = server.post("/users", &json!({ "email": "not-an-email", "name": "X" }));
    assert_eq!((invalid.status, invalid.error_code()), (422, "invalid"));
    let missing = server.post("/users", &json!({ "email": "x@example.com" }));
    assert_eq!((missing.status, missing.error_code()), (422, "invalid"));
    let malformed = http(server.addr, "POST", "/users", Some("{\"email\":"));
    assert_eq!(
        (malformed.status, malformed.error_code()),
        (400, "bad_request")
    );
    let unknown = server.get("/users/999999");
    assert_eq!((unknown.status, unknown.error_code()), (404, "not_found"));
    let bad_id = server.get("/users/abc");
    assert_eq!((bad_id.status, bad_id.error_code()), (400, "bad_request"));
    let bad_limit = server.get("/users?limit=1000");
    assert_eq!(
        (bad_limit.status, bad_limit.error_code()),
        (400, "bad_request")
    );
    let no_route = server.get("/nope");
    assert_eq!((no_route.status, no_route.error_code()), (404, "not_found"));
    let wrong_method = http(server.addr, "DELETE", "/users/1", None);
    assert_eq!(
        (wrong_method.status, wrong_method.error_code()),
        (405, "method_not_allowed")
    );

    // Downgrade one step while the server runs: /health says it is no longer at head, and
    // the Rust revision's downgrade cleared the handles.
    let down = app.run(&["migrate", "downgrade", "-1"]);
    let log = String::from_utf8_lossy(&down.stderr);
    assert!(down.status.success(), "{log}");
    assert!(log.contains(&format!("reverted {HEAD}")), "{log}");
    assert!(log.contains("user handles cleared cleared=2"), "{log}");
    assert_eq!(
        app.ok(&["migrate", "current"]),
        format!("{BELOW_HEAD}\n{VIEW}\n")
    );
    assert_eq!(handles(&server), [Value::Null, Value::Null]);
    let health = server.get("/health");
    assert_eq!(health.status, 200);
    assert_eq!(health.json["revision"], BELOW_HEAD);
    assert_eq!(health.json["at_head"], false);
    let log = server.stop(app);
    assert!(log.contains("the database is up to date"), "{log}");

    // Without migrating at start, the app refuses a database behind its revisions.
    let (code, log) = app.serve_fails(&["--no-migrate"]);
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains(
            "the database is behind this binary: 1 revision(s) not applied (a8b0c2d4e6f8)"
        ),
        "{log}"
    );
    let refused = output_retrying(
        app.command()
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("MIGRATE_ON_START", "false"),
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is behind this binary"));
    // `check` exits 3: revisions pending.
    let check = app.run(&["migrate", "check"]);
    assert_eq!(check.status.code(), Some(3));

    // Down below the SQL data migration too, then upgrade again (the init container's
    // command) and start without migrating: the SQL data migration backfilled an `imported`
    // event for every user, and the Rust revision computed each user's handle again, in a
    // batch whose progress it logged.
    let down = app.run(&["migrate", "downgrade", MERGE]);
    let log = String::from_utf8_lossy(&down.stderr);
    assert!(down.status.success(), "{log}");
    assert!(log.contains(&format!("reverted {SIGNUPS}")), "{log}");
    let up = app.run(&["migrate", "upgrade", "head"]);
    let log = String::from_utf8_lossy(&up.stderr);
    assert!(up.status.success(), "{log}");
    assert!(
        log.contains("user handles backfilled: all users done=2"),
        "{log}"
    );
    let server = app.serve(&["--no-migrate"]);
    assert_eq!(handles(&server), ["ada-lovelace", "grace"]);
    let events = server.get(&format!("/users/{id}/events"));
    assert_eq!(events.status, 200);
    let kinds: Vec<&str> = events.json["events"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["kind"].as_str()).collect())
        .unwrap_or_default();
    // The backfilled event copies the user's date; seq 0 sorts it first.
    assert_eq!(kinds, ["imported", "created"], "{:?}", events.json);
    // The view counts the backfilled event too.
    let activity = server.get("/activity");
    assert_eq!(activity.json["users"][0]["events"], 2, "{activity:?}");
    let log = server.stop(app);
    assert!(log.contains("not migrating (--no-migrate)"), "{log}");

    app.assert_no_secret_printed();
}

#[test]
fn sqlite_by_default_in_the_working_directory() {
    let app = App::new(None, None);
    scenario(&app, "SQLite");
    // Nothing but the binary and the database it created next to it.
    let names = entries(app.dir.path());
    assert!(names.contains(&"example-app.db".to_owned()), "{names:?}");
    assert!(
        names.iter().all(|n| n.starts_with("example-app")),
        "{names:?}"
    );
}

/// PostgreSQL's URL with a password added when it has none (the test server trusts local
/// connections, so it is not checked), so that the test can check the password is never
/// printed; or the password the URL already has.
fn url_with_secret(db: &TestDb) -> (String, String) {
    let secret = "e2e-Secret-9f3k".to_owned();
    match db.url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            match authority.split_once('@') {
                Some((user, host)) if !user.contains(':') => {
                    (format!("{scheme}://{user}:{secret}@{host}/{path}"), secret)
                }
                Some((user, _)) => {
                    let existing = user.split_once(':').map(|(_, p)| p).unwrap_or_default();
                    (db.url.clone(), existing.to_owned())
                }
                None => (db.url.clone(), String::new()),
            }
        }
        None => (db.url.clone(), String::new()),
    }
}

async fn on_server(kind: Kind, database: &str) {
    let db = TestDb::new(kind).await;
    let (url, secret) = if kind == Kind::Postgres {
        url_with_secret(&db)
    } else {
        (db.url.clone(), String::new())
    };
    let secret = (secret.len() >= 3).then_some(secret);
    let app = App::new(Some(url), secret);
    scenario(&app, database);
    assert_eq!(entries(app.dir.path()), ["example-app"]);
}

#[tokio::test]
async fn postgres() {
    on_server(Kind::Postgres, "PostgreSQL").await;
}

#[tokio::test]
async fn mariadb() {
    on_server(Kind::MySql, "MySQL/MariaDB").await;
}

/// What the app prints for `url`: `serve` (which fails to connect, or to find the
/// database), and its embedded CLI's `migrate current -v` and `migrate upgrade head`.
fn app_output(app: &App, url: &str) -> String {
    let mut all = String::new();
    for args in [
        &["serve", "--bind", "127.0.0.1:0"][..],
        &["migrate", "current", "-v"],
        &["migrate", "upgrade", "head"],
    ] {
        let out = output_retrying(
            app.command()
                .env("DATABASE_URL", url)
                .args(args)
                .stdin(Stdio::null()),
        );
        assert!(!out.status.success(), "{url} {args:?} succeeded");
        all.push_str(&String::from_utf8_lossy(&out.stdout));
        all.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    all
}

/// Runs `command` to completion; see [`retrying_busy`].
fn output_retrying(command: &mut Command) -> Output {
    retrying_busy(|| command.output())
}

/// What `start` returns, tried again while it fails with "text file busy": a binary just
/// copied may still be open for writing in a child that another test thread forked
/// meanwhile (until that child execs), and Linux refuses to run it for that moment.
fn retrying_busy<T>(mut start: impl FnMut() -> std::io::Result<T>) -> T {
    for _ in 0..50 {
        match start() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other.expect("running example-app"),
        }
    }
    panic!("example-app stayed busy")
}

/// The URLs a password is tried in, as (prefix, suffix) around it: a dead port, a refused
/// MariaDB login (root has no password here), a missing PostgreSQL database (the server
/// trusts local connections), and no `//`.
const PASSWORD_SHAPES: [(&str, &str); 4] = [
    ("postgres://rc_user:", "@127.0.0.1:1/rc_db"),
    ("mysql://root:", "@127.0.0.1:3306/mysql"),
    ("postgres://postgres:", "@127.0.0.1:5432/rc_missing_db"),
    ("postgres:postgres:", "@127.0.0.1:5432/postgres"),
];

/// Passwords made of any printable ASCII (unencoded `/ ? # @ :`, spaces, quotes, `%`) never
/// show, nor any part of 4 characters of them, in what the app prints: its server's log and
/// its embedded CLI.
#[test]
fn no_part_of_a_password_is_printed() {
    use proptest::prelude::*;
    let app = App::new(None, None);
    let baselines: Vec<Vec<String>> = PASSWORD_SHAPES
        .iter()
        .map(|(prefix, suffix)| {
            vec![
                app_output(&app, &format!("{prefix}Zq9vXk{suffix}")),
                app_output(&app, &format!("{prefix}Zq/v?k#{suffix}")),
            ]
        })
        .collect();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 8,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let quoted = ["p/a#s?s@w", "se@cret@x", "pa55 w0rd'\"`", "%41%2Fzz%"];
    for password in quoted {
        check_password(&app, password, &baselines);
    }
    runner
        .run(&"[ -~]{4,16}", |password| {
            check_password(&app, &password, &baselines);
            Ok(())
        })
        .unwrap();
}

fn check_password(app: &App, password: &str, baselines: &[Vec<String>]) {
    for ((prefix, suffix), baseline) in PASSWORD_SHAPES.iter().zip(baselines) {
        let url = format!("{prefix}{password}{suffix}");
        let output = app_output(app, &url);
        let leaked = revchain_tests::leaked_part(password, &[prefix, suffix], &output, baseline);
        assert!(leaked.is_none(), "{url}: {leaked:?} printed in:\n{output}");
    }
}

/// Holds an exclusive lock on `users` for `hold`, from another connection: a statement of
/// the app on `users` waits, and so takes longer than sqlx's one-second threshold for a
/// "slow statement". Returns once the lock is held.
fn lock_users(url: &str, hold: Duration) -> std::thread::JoinHandle<()> {
    let url = url.to_owned();
    let (tx, rx) = mpsc::channel();
    let holder = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.expect("connecting");
            let mut tx_db = conn.begin().await.expect("a transaction");
            sqlx::raw_sql("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
                .execute(&mut *tx_db)
                .await
                .expect("locking users");
            let _ = tx.send(());
            tokio::time::sleep(hold).await;
            tx_db.commit().await.expect("committing");
        });
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the lock is held");
    holder
}

/// sqlx logs every statement slower than a second at `warn`, with its whole text (a
/// revision's `CREATE ROLE … PASSWORD '…'`, a query's data): neither the app's embedded CLI
/// nor its server prints statement text at its default level.
#[tokio::test]
async fn slow_statements_are_not_printed() {
    let db = TestDb::new(Kind::Postgres).await;
    let app = App::new(Some(db.url.clone()), None);
    app.ok(&["migrate", "upgrade", MERGE]);

    // The embedded CLI: the last revision's UPDATE waits for the lock.
    let holder = lock_users(&db.url, Duration::from_millis(1600));
    let up = app.run(&["migrate", "upgrade", "head"]);
    holder.join().expect("the lock holder");
    let log = String::from_utf8_lossy(&up.stderr).into_owned();
    assert!(up.status.success(), "{log}");
    assert!(log.contains(&format!("applied {SIGNUPS}")), "{log}");

    // The server: migrating at start waits the same way.
    app.ok(&["migrate", "downgrade", MERGE]);
    let holder = lock_users(&db.url, Duration::from_millis(1600));
    let server = app.serve(&[]);
    holder.join().expect("the lock holder");
    assert_eq!(server.get("/health").status, 200);
    let log = log + &server.stop(&app);
    assert!(
        log.matches(&format!("applied {SIGNUPS}")).count() == 2,
        "{log}"
    );
    for text in [
        "UPDATE users",
        "1970-01-01",
        "slow statement",
        "db.statement",
    ] {
        assert!(!log.contains(text), "`{text}` printed:\n{log}");
    }
}
