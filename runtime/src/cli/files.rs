//! The commands that write files in the migrations directory: `init`, `revision`, `merge`.
//! They need the source tree, so only the directory CLI has them.

use std::io::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use revchain_core::writer::{self, NewRevision};
use revchain_core::{Graph, Target, id};

use super::CliError;

/// `revchain init`: creates an empty migrations directory.
pub(crate) fn init(dir: &Path) -> Result<String, CliError> {
    if dir.exists() {
        let non_empty = std::fs::read_dir(dir)
            .map_err(|e| CliError::user(format!("{}: cannot read it: {e}", dir.display())))?
            .next()
            .is_some();
        if non_empty || !dir.is_dir() {
            return Err(CliError::user(format!(
                "{} already exists and is not an empty directory; nothing was created",
                dir.display()
            )));
        }
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::user(format!("{}: cannot create it: {e}", dir.display())))?;
    Ok(format!(
        "Created the migrations directory {0}.\nNext: revchain --dir {0} revision -m \"create the first table\"\n",
        dir.display()
    ))
}

/// The options of `revchain revision`.
pub(crate) struct RevisionOptions<'a> {
    pub message: &'a str,
    pub rev_id: Option<&'a str>,
    pub head: &'a str,
    pub splice: bool,
    pub branch_label: Option<&'a str>,
    pub depends_on: &'a [String],
    pub upgrade: String,
    pub downgrade: String,
    /// `false` writes `Transactional: false`.
    pub transactional: bool,
}

/// The parents named by `--head`.
pub(crate) fn resolve_head(
    graph: &Graph,
    head: &str,
    splice: bool,
) -> Result<Vec<usize>, CliError> {
    let target: Target = head.parse().map_err(CliError::from_display)?;
    let parents = match target {
        Target::Base => Vec::new(),
        Target::Heads => graph.heads().to_vec(),
        Target::Head => match graph.heads() {
            [] => Vec::new(),
            [one] => vec![*one],
            many => {
                let ids: Vec<&str> = many.iter().map(|&h| graph.id(h)).collect();
                return Err(CliError::user(format!(
                    "the directory has {} heads ({}); pass `--head <id>` to choose the parent, or \
                     merge them first with `revchain merge -m \"merge heads\" heads`",
                    many.len(),
                    ids.join(", ")
                )));
            }
        },
        Target::Revision(r) => vec![graph.lookup(&r).map_err(CliError::from_display)?],
        Target::BranchHead(_) => {
            let plan = graph
                .plan_upgrade(&target, &[])
                .map_err(CliError::from_display)?;
            plan.heads_after
        }
        other => {
            return Err(CliError::user(format!(
                "`--head {other}` is not a revision; use an id, a prefix, a label, label@head, \
                 head, heads or base"
            )));
        }
    };
    if !splice && let Some(&p) = parents.iter().find(|&&p| !graph.is_head(p)) {
        return Err(CliError::user(format!(
            "revision {} is not a head; pass `--splice` to start a new branch from it",
            graph.id(p)
        )));
    }
    Ok(parents)
}

/// `revchain revision`: writes a new revision on top of the given head.
pub(crate) fn revision(
    dir: &Path,
    graph: &Graph,
    opts: &RevisionOptions<'_>,
) -> Result<String, CliError> {
    let parents = resolve_head(graph, opts.head, opts.splice)?;
    let mut depends_on = Vec::new();
    for d in opts.depends_on {
        let i = graph.lookup(d).map_err(CliError::from_display)?;
        // Keep a label as written (it follows its branch); otherwise the full id.
        depends_on.push(if graph.find_label(d) == Some(i) {
            d.clone()
        } else {
            graph.id(i).to_owned()
        });
    }
    let mut labels = Vec::new();
    if let Some(label) = opts.branch_label {
        id::validate_label(label).map_err(CliError::from_display)?;
        if graph.find_label(label).is_some() || graph.find(label).is_some() {
            return Err(CliError::user(format!(
                "branch label `{label}` is already used by another revision; choose another"
            )));
        }
        labels.push(label.to_owned());
    }
    let parent_ids: Vec<String> = parents.iter().map(|&p| graph.id(p).to_owned()).collect();
    write_revision(
        dir,
        graph,
        opts.rev_id,
        opts.message,
        parent_ids,
        labels,
        depends_on,
        &opts.upgrade,
        &opts.downgrade,
        opts.transactional,
    )
}

/// `revchain merge`: writes a revision that revises several others.
pub(crate) fn merge(
    dir: &Path,
    graph: &Graph,
    message: &str,
    revisions: &[String],
    rev_id: Option<&str>,
    branch_label: Option<&str>,
) -> Result<String, CliError> {
    let mut parents: Vec<usize> = Vec::new();
    for r in revisions {
        let found = if r == "heads" {
            graph.heads().to_vec()
        } else {
            vec![graph.lookup(r).map_err(CliError::from_display)?]
        };
        for p in found {
            if !parents.contains(&p) {
                parents.push(p);
            }
        }
    }
    if parents.len() < 2 {
        return Err(CliError::user(format!(
            "nothing to merge: {} names {} revision(s); a merge needs two or more heads",
            revisions.join(" "),
            parents.len()
        )));
    }
    for &p in &parents {
        let below = graph.ancestors_by_revises(parents.iter().copied().filter(|&q| q != p));
        if below[p] {
            return Err(CliError::user(format!(
                "revision {} is already an ancestor of another revision given; merge heads only",
                graph.id(p)
            )));
        }
    }
    let mut labels = Vec::new();
    if let Some(label) = branch_label {
        id::validate_label(label).map_err(CliError::from_display)?;
        labels.push(label.to_owned());
    }
    let parent_ids = parents.iter().map(|&p| graph.id(p).to_owned()).collect();
    write_revision(
        dir,
        graph,
        rev_id,
        message,
        parent_ids,
        labels,
        Vec::new(),
        "",
        "",
        true,
    )
}

#[allow(clippy::too_many_arguments)]
fn write_revision(
    dir: &Path,
    graph: &Graph,
    rev_id: Option<&str>,
    message: &str,
    parents: Vec<String>,
    branch_labels: Vec<String>,
    depends_on: Vec<String>,
    upgrade: &str,
    downgrade: &str,
    transactional: bool,
) -> Result<String, CliError> {
    let id = match rev_id {
        Some(id) => {
            id::validate_id(id).map_err(CliError::from_display)?;
            if graph.find(id).is_some() {
                return Err(CliError::user(format!(
                    "revision id `{id}` is already used; choose another"
                )));
            }
            id.to_owned()
        }
        None => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let entropy = format!(
                "{}:{}:{}:{message}",
                now.as_nanos(),
                std::process::id(),
                dir.display()
            );
            writer::generate_id(entropy.as_bytes(), |candidate| {
                graph.find(candidate).is_some()
            })
        }
    };
    let text = writer::render(&NewRevision {
        id: id.clone(),
        message: message.to_owned(),
        parents,
        create_date: create_date(SystemTime::now()),
        branch_labels,
        depends_on,
        transactional,
        upgrade: upgrade.to_owned(),
        downgrade: Some(downgrade.to_owned()),
    })
    .map_err(CliError::from_display)?;
    let path = dir.join(writer::file_name(&id, message));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| CliError::user(format!("{}: cannot create it: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .map_err(|e| CliError::user(format!("{}: cannot write it: {e}", path.display())))?;
    Ok(format!("Generating {} ...  done\n", path.display()))
}

/// `YYYY-MM-DD HH:MM:SS.ffffff+00:00` in UTC, as Alembic writes `Create Date`.
pub(crate) fn create_date(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02} {:02}:{:02}:{:02}.{:06}+00:00",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Days since 1970-01-01 to a (year, month, day) civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        assert_eq!(create_date(UNIX_EPOCH), "1970-01-01 00:00:00.000000+00:00");
        let t = UNIX_EPOCH + Duration::from_micros(1_795_514_400_123_456);
        assert_eq!(create_date(t), "2026-11-24 10:00:00.123456+00:00");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(create_date(leap), "2000-02-29 00:00:00.000000+00:00");
    }
}
