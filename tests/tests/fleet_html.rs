//! The fleet page (`fleet status --format html`, issue 21) in a real browser: a fleet of
//! SQLite files at different revisions (one of them out of reach, with markup in its name),
//! the page written by the `revchain` tool, then opened by headless Chromium, which takes a
//! screenshot (`<target>/fleet-html/screenshot.png`, a CI artifact) and dumps the DOM it
//! built, where the table rows and the counts per state must be.
//!
//! Needs `chromium` (Debian's package, `/usr/bin/chromium`, or `REVCHAIN_CHROMIUM`). Without
//! it the test is skipped with a message, unless `CI` is set: in CI it must run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use revchain_tests::{Dir, target_subdir};

fn revchain(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_revchain-cli"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .expect("running revchain")
}

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("REVCHAIN_CHROMIUM") {
        return Some(path.into());
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Runs headless Chromium on `page` with `args`, killed after 90 s; its stdout.
fn headless(browser: &Path, page: &Path, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
        ])
        .args([
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting chromium");
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium {args:?} did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "chromium {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A history with a branch and a merge: a1 → b2 → {c3, d4} → e5.
fn history() -> Dir {
    let dir = Dir::new();
    dir.creates_table("a1", "", "t1")
        .creates_table("b2", "a1", "t2")
        .creates_table("c3", "b2", "t3")
        .creates_table("d4", "b2", "t4")
        .rev(
            "e5",
            "c3, d4",
            "",
            "CREATE TABLE t5 (id INT);",
            Some("DROP TABLE t5;"),
        );
    dir
}

/// The fleet: 6 SQLite files (2 at the head, 2 at b2, 2 empty) and one out of reach
/// whose path has `<script>` in it; the targets file.
fn fleet(dir: &Path, files: &Path) -> PathBuf {
    let mut urls = Vec::new();
    for (i, goal) in ["heads", "heads", "b2", "b2", "", ""].iter().enumerate() {
        let url = format!("sqlite://{}/tenant_{i}.db?mode=rwc", files.display());
        if !goal.is_empty() {
            let out = revchain(dir, &["upgrade", goal, "--database-url", &url]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        urls.push(url);
    }
    urls.push(format!(
        "sqlite://{}/<script>alert(1)/gone.db",
        files.display()
    ));
    let targets = files.join("targets.txt");
    std::fs::write(&targets, urls.join("\n") + "\n").unwrap();
    targets
}

/// The width and height of a PNG, from its IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn the_fleet_page_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but chromium is missing: apt-get install -y chromium"
        );
        eprintln!("SKIPPED: chromium is not installed (apt-get install -y chromium)");
        return;
    };
    let dir = history();
    let files = tempfile::tempdir().unwrap();
    let targets = fleet(dir.path(), files.path());
    let out_dir = target_subdir("fleet-html");
    std::fs::create_dir_all(&out_dir).unwrap();
    let page = out_dir.join("fleet.html");
    let targets = targets.to_str().unwrap();
    let status = revchain(
        dir.path(),
        &[
            "fleet",
            "status",
            "--targets-file",
            targets,
            "--format",
            "html",
            "--output",
            page.to_str().unwrap(),
        ],
    );
    assert_eq!(status.status.code(), Some(8), "not every target is at head");
    let html = std::fs::read_to_string(&page).expect("the page was written");
    assert!(
        html.contains("&lt;script&gt;alert(1)"),
        "escaped in the page"
    );

    let shot = out_dir.join("screenshot.png");
    let _ = std::fs::remove_file(&shot);
    headless(
        &browser,
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,900",
        ],
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(
        png.len() > 20_000,
        "a near-empty screenshot: {} bytes",
        png.len()
    );
    assert_eq!(png_size(&png), (1280, 900));

    let dom = headless(&browser, &page, &["--dump-dom"]);
    assert_eq!(dom.matches("<tr class=\"target\"").count(), 7, "{dom}");
    for (state, n) in [
        ("total", 7),
        ("at_goal", 2),
        ("behind", 4),
        ("unreachable", 1),
    ] {
        let card = format!("data-state=\"{state}\"><span class=\"n\">{n}</span>");
        assert!(dom.contains(&card), "{card} not in the DOM:\n{dom}");
    }
    assert!(
        !dom.contains("<script"),
        "a target's markup became an element"
    );
    assert!(dom.contains("&lt;script&gt;alert(1)"));
    let first = dom.find("<tr class=\"target\"").unwrap();
    assert!(dom[first..].starts_with("<tr class=\"target\" data-state=\"unreachable\""));
    assert_eq!(
        dom.matches("class=\"node").count(),
        5,
        "every revision in the graph"
    );
}
