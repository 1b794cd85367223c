//! `--format json`: every document parses, has the shape of its checked-in example
//! (tests/fixtures/json/<command>.json, the examples docs/cli.md shows), and the `revchain`
//! tool on a directory and the CLI embedded in an application print EQUAL documents for
//! the same steps on the same migrations (times and durations masked).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Output};

use revchain_tests::{Kind, TestDb, tests_dir, workspace_root};
use serde_json::Value;

const DIR_CLI: &str = env!("CARGO_BIN_EXE_revchain-cli");
const EMBEDDED_CLI: &str = env!("CARGO_BIN_EXE_embedded-cli");

/// The steps, each with the example its document must have the shape of, and its exit code.
const STEPS: &[(&str, &[&str], i32)] = &[
    ("upgrade", &["upgrade", "e5f6"], 0),
    ("status", &["status"], 3),
    ("current", &["current"], 0),
    ("history", &["history", "--indicate-current"], 0),
    ("downgrade", &["downgrade", "-1"], 0),
    ("stamp", &["stamp", "heads"], 0),
    ("check", &["check"], 0),
    ("heads", &["heads"], 0),
    ("branches", &["branches"], 0),
    ("show", &["show", "d4e5"], 0),
    ("error", &["upgrade", "nonsense-target"], 1),
];

/// Runs `args` with `--format json` on `url`; the exit code and stdout.
fn run(bin: &str, url: &str, args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(bin);
    if bin == DIR_CLI {
        cmd.args(["--dir", "fixtures/portable"]);
    }
    let out: Output = cmd
        .args(args)
        .args(["--format", "json", "--database-url", url])
        .current_dir(tests_dir())
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "error")
        .output()
        .expect("running a CLI");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `value` with its times and durations replaced by fixed ones.
fn masked(mut value: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    match (key.as_str(), &item) {
                        ("applied_at", Value::String(_)) => *item = "<time>".into(),
                        ("duration_ms", Value::Number(_)) => *item = 0.into(),
                        // A hint names the binary that runs (`embedded-cli history`, not
                        // `revchain history`): the one difference the two CLIs may have.
                        ("message", Value::String(m)) => {
                            *item = m.replace("`embedded-cli ", "`revchain ").into()
                        }
                        _ => walk(item),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

/// Where `actual` does not have the shape of `example`: the same keys, values of the same
/// type (`null` stands for a field that may be null), and every element of a list shaped
/// as the example's first (a list the example leaves empty must be empty).
fn shape_errors(actual: &Value, example: &Value, at: &str, errors: &mut Vec<String>) {
    match (actual, example) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(a), Value::Object(e)) => {
            let (ka, ke): (BTreeSet<_>, BTreeSet<_>) = (a.keys().collect(), e.keys().collect());
            if ka != ke {
                errors.push(format!("{at}: keys {ka:?}, the example has {ke:?}"));
            }
            for (k, v) in a {
                if let Some(ev) = e.get(k) {
                    shape_errors(v, ev, &format!("{at}.{k}"), errors);
                }
            }
        }
        (Value::Array(a), Value::Array(e)) => match e.first() {
            Some(first) => {
                for (i, v) in a.iter().enumerate() {
                    shape_errors(v, first, &format!("{at}[{i}]"), errors);
                }
            }
            None if !a.is_empty() => errors.push(format!("{at}: the example's list is empty")),
            None => {}
        },
        (Value::Bool(_), Value::Bool(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_)) => {}
        _ => errors.push(format!(
            "{at}: {actual} is not of the example's type ({example})"
        )),
    }
}

fn example_path(name: &str) -> PathBuf {
    tests_dir().join(format!("fixtures/json/{name}.json"))
}

/// Both CLIs through [`STEPS`], each on its own database of `kind`: equal documents, each
/// of its example's shape, with the expected exit codes.
async fn both_clis_agree(kind: Kind) {
    let a = TestDb::new(kind).await;
    let b = TestDb::new(kind).await;
    for (name, args, code) in STEPS {
        let (code_a, out_a) = run(DIR_CLI, &a.url, args);
        let (code_b, out_b) = run(EMBEDDED_CLI, &b.url, args);
        let doc = |text: &str| -> Value {
            serde_json::from_str(text).unwrap_or_else(|e| {
                panic!("{kind:?} `{}`: not JSON ({e}):\n{text}", args.join(" "))
            })
        };
        let (doc_a, doc_b) = (masked(doc(&out_a)), masked(doc(&out_b)));
        assert_eq!(
            code_a,
            Some(*code),
            "{kind:?} `{}`:\n{out_a}",
            args.join(" ")
        );
        assert_eq!(
            code_b,
            Some(*code),
            "{kind:?} `{}` (embedded):\n{out_b}",
            args.join(" ")
        );
        assert_eq!(
            doc_a,
            doc_b,
            "{kind:?} `{}`: the two CLIs differ",
            args.join(" ")
        );
        assert_eq!(doc_a["format"], 1, "{out_a}");
        if *name != "error" {
            assert_eq!(doc_a["command"], args[0], "{out_a}");
        }
        let example = std::fs::read_to_string(example_path(name))
            .unwrap_or_else(|e| panic!("{}: {e}", example_path(name).display()));
        let example: Value = serde_json::from_str(&example).expect("an example is JSON");
        let mut errors = Vec::new();
        shape_errors(&doc_a, &example, name, &mut errors);
        assert!(
            errors.is_empty(),
            "{kind:?} `{}` does not have the shape of {}:\n{}\n{out_a}",
            args.join(" "),
            example_path(name).display(),
            errors.join("\n")
        );
    }
}

#[tokio::test]
async fn sqlite_documents_agree_and_match_their_examples() {
    both_clis_agree(Kind::Sqlite).await;
}

#[tokio::test]
async fn postgres_documents_agree_and_match_their_examples() {
    both_clis_agree(Kind::Postgres).await;
}

/// The shape check itself: a missing key, a changed type, an undocumented element fail.
#[test]
fn the_shape_check_catches_what_rots() {
    let example: Value = serde_json::json!({"a": 1, "b": ["x"], "c": null, "d": []});
    let mut errors = Vec::new();
    shape_errors(
        &serde_json::json!({"a": 2, "b": ["y"], "c": "z", "d": []}),
        &example,
        "t",
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:?}");
    for bad in [
        serde_json::json!({"a": 2, "b": ["y"], "c": 1}),
        serde_json::json!({"a": "2", "b": ["y"], "c": 1, "d": []}),
        serde_json::json!({"a": 2, "b": [1], "c": 1, "d": []}),
        serde_json::json!({"a": 2, "b": [], "c": 1, "d": [1]}),
        serde_json::json!({"a": 2, "b": [], "c": 1, "d": [], "e": 0}),
    ] {
        let mut errors = Vec::new();
        shape_errors(&bad, &example, "t", &mut errors);
        assert!(!errors.is_empty(), "{bad}");
    }
}

/// docs/cli.md names every key of every example, and every example is in it.
#[test]
fn the_docs_name_every_key_of_the_examples() {
    let docs = std::fs::read_to_string(workspace_root().join("docs/cli.md")).expect("docs/cli.md");
    fn keys(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                for (k, item) in map {
                    out.insert(k.clone());
                    keys(item, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| keys(i, out)),
            _ => {}
        }
    }
    for (name, _, _) in STEPS {
        assert!(
            docs.contains(&format!("tests/fixtures/json/{name}.json")),
            "docs/cli.md does not point to the example of {name}"
        );
        let example = std::fs::read_to_string(example_path(name)).expect("the example");
        let mut found = BTreeSet::new();
        keys(&serde_json::from_str(&example).expect("JSON"), &mut found);
        for k in found {
            assert!(
                docs.contains(&format!("`{k}`")),
                "docs/cli.md does not document `{k}` (in {name}.json)"
            );
        }
    }
}
