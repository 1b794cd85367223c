//! The embedded revision table: [`Migrations`] and [`Revision`].
//!
//! `revchain::migrations!("migrations")` builds a `Migrations` at compile time from the
//! directory; the `revchain` binary builds one at run time from files on disk with
//! [`Migrations::from_history`]. Everything else (the runtime and both CLIs) works on a
//! `Migrations`, so the two can never behave differently.

use std::borrow::Cow;
use std::sync::{Once, OnceLock};

use revchain_core::graph::Node;
use revchain_core::parse::RevisionFile;
use revchain_core::repeatable::{Repeatables, Spec};
use revchain_core::{Digest, Graph, History, Plan, StampPlan, Target, TargetError};

mod table;
pub use table::EmbeddedTable;

/// Text that is `'static` in the embedded table and owned when loaded from disk.
pub(crate) type Text = Cow<'static, str>;

/// The parts of a [`Revision`], as the `migrations!` macro writes them.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct RevisionParts {
    pub id: Text,
    pub message: Text,
    /// Parent ids joined by `", "`.
    pub parent_ids: Text,
    /// Parent indices into the table.
    pub parents: Cow<'static, [u32]>,
    /// `Depends On` as written, joined by `", "`.
    pub depends_on_names: Text,
    /// Dependency indices into the table.
    pub depends_on: Cow<'static, [u32]>,
    /// Branch labels joined by `", "`.
    pub branch_labels: Text,
    pub create_date: Option<Text>,
    pub transactional: bool,
    pub upgrade_sql: Text,
    pub upgrade_line: u32,
    pub downgrade_sql: Option<Text>,
    pub downgrade_line: u32,
    pub path: Text,
    pub id_line: u32,
    pub checksum: Digest,
    pub chain_digest: Digest,
    /// For a Rust code revision (docs/design.md §1.7): its functions; `None` for SQL.
    pub code: Option<crate::code::CodeRevision>,
    /// `Replaces` joined by `", "` (a baseline, docs/design.md §2.3); empty otherwise.
    pub replaces: Text,
    /// Its `Lock Timeout` header in milliseconds; 0 when it has none.
    pub lock_timeout_ms: u64,
    /// Its `Statement Timeout` header in milliseconds; 0 when it has none.
    pub statement_timeout_ms: u64,
    /// Whether its header says `Phase: contract` (docs/design.md §4.14).
    pub contract: bool,
}

/// One revision of a [`Migrations`] table.
#[derive(Debug, Clone)]
pub struct Revision {
    #[doc(hidden)]
    pub __parts: RevisionParts,
}

fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty())
}

impl Revision {
    /// The revision id.
    pub fn id(&self) -> &str {
        &self.__parts.id
    }

    /// The message (the first line of the file's header).
    pub fn message(&self) -> &str {
        &self.__parts.message
    }

    /// The parent ids, in the order of the `Revises` line; none for a base.
    pub fn parents(&self) -> impl Iterator<Item = &str> {
        split_list(&self.__parts.parent_ids)
    }

    /// The parents as indices into the table.
    pub fn parent_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.__parts.parents.iter().map(|&p| p as usize)
    }

    /// The `Depends On` entries as written (ids or branch labels).
    pub fn depends_on(&self) -> impl Iterator<Item = &str> {
        split_list(&self.__parts.depends_on_names)
    }

    /// The branch labels.
    pub fn branch_labels(&self) -> impl Iterator<Item = &str> {
        split_list(&self.__parts.branch_labels)
    }

    /// `Create Date`, as written.
    pub fn create_date(&self) -> Option<&str> {
        self.__parts.create_date.as_deref()
    }

    /// The upgrade SQL exactly as the file has it (what runs); the checksum is computed
    /// from its normalised form (`revchain_core::parse::checksum_text`, docs/design.md §1.4).
    pub fn upgrade_sql(&self) -> &str {
        &self.__parts.upgrade_sql
    }

    /// The file line where the upgrade SQL starts.
    pub fn upgrade_line(&self) -> usize {
        self.__parts.upgrade_line as usize
    }

    /// The downgrade SQL exactly as the file has it; `None` for an irreversible revision.
    pub fn downgrade_sql(&self) -> Option<&str> {
        self.__parts.downgrade_sql.as_deref()
    }

    /// The file line where the downgrade SQL starts.
    pub fn downgrade_line(&self) -> usize {
        self.__parts.downgrade_line as usize
    }

    /// Whether the revision runs inside a transaction (`Transactional: true`, the default).
    pub fn is_transactional(&self) -> bool {
        self.__parts.transactional
    }

    /// Its `Lock Timeout` header (docs/design.md §4.12), `None` when it has none.
    pub fn lock_timeout(&self) -> Option<std::time::Duration> {
        (self.__parts.lock_timeout_ms > 0)
            .then(|| std::time::Duration::from_millis(self.__parts.lock_timeout_ms))
    }

    /// Its `Statement Timeout` header (docs/design.md §4.12), `None` when it has none.
    pub fn statement_timeout(&self) -> Option<std::time::Duration> {
        (self.__parts.statement_timeout_ms > 0)
            .then(|| std::time::Duration::from_millis(self.__parts.statement_timeout_ms))
    }

    /// Its `Phase` header (docs/design.md §4.14): [`Phase::Contract`](revchain_core::Phase)
    /// when it breaks the previous release.
    pub fn phase(&self) -> revchain_core::Phase {
        if self.__parts.contract {
            revchain_core::Phase::Contract
        } else {
            revchain_core::Phase::Expand
        }
    }

    /// Whether the revision can be downgraded.
    pub fn is_reversible(&self) -> bool {
        self.__parts.downgrade_sql.is_some()
    }

    /// Whether this revision merges several parents.
    pub fn is_merge(&self) -> bool {
        self.__parts.parents.len() > 1
    }

    /// The file the revision came from, relative to the crate (e.g.
    /// `migrations/3f2a9c01b7de_add_users.sql`).
    pub fn path(&self) -> &str {
        &self.__parts.path
    }

    /// The line of `Revision ID` in the file.
    pub fn id_line(&self) -> usize {
        self.__parts.id_line as usize
    }

    /// The SHA-256 checksum of the upgrade SQL.
    pub fn checksum(&self) -> Digest {
        self.__parts.checksum
    }

    /// The chain digest: the checksum combined with the parents' chain digests (for a
    /// baseline, its `Replaces Digest`: END's chain digest before the squash).
    pub fn chain_digest(&self) -> Digest {
        self.__parts.chain_digest
    }

    /// Whether this is a Rust code revision (a `.rs` file, docs/design.md §1.7). Its
    /// [`upgrade_sql`](Self::upgrade_sql) is then the file's Rust code, which the checksum
    /// covers, and not SQL.
    pub fn is_rust(&self) -> bool {
        self.__parts.code.is_some()
    }

    /// For a Rust code revision compiled into this binary, the database its functions are
    /// written for ([`CodeDatabase::Any`](crate::CodeDatabase::Any) for a portable one);
    /// `None` for an SQL revision, or a Rust one loaded from disk (whose code
    /// this binary does not contain).
    pub fn code_database(&self) -> Option<crate::code::CodeDatabase> {
        self.__parts
            .code
            .and_then(|c| c.upgrade)
            .map(|f| f.database())
    }

    /// The code revision's parts, if it is one.
    pub(crate) fn code(&self) -> Option<&crate::code::CodeRevision> {
        self.__parts.code.as_ref()
    }

    /// The ids a baseline written by `revchain squash` stands for (`Replaces`, in order;
    /// the last is END); none for an ordinary revision.
    pub fn replaces(&self) -> impl Iterator<Item = &str> {
        split_list(&self.__parts.replaces)
    }
}

/// An ordered, validated table of revisions: what `revchain::migrations!` embeds.
///
/// ```no_run
/// static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
///
/// # async fn boot(pool: sqlx::PgPool) -> Result<(), revchain::Error> {
/// MIGRATIONS.run(&pool).await?; // upgrade to head, at boot
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Migrations {
    revisions: Revisions,
    heads: Cow<'static, [u32]>,
    dir: Text,
    source_dir: Option<Text>,
    multiple_heads_allowed: bool,
    graph: OnceLock<Graph>,
    stale_check: Once,
    repeatables: Cow<'static, [Revision]>,
    resolved_repeatables: OnceLock<Repeatables>,
    /// Per baseline (graph index), the table of the revisions it replaces, when loaded.
    catch_up: CatchUp,
}

/// The revisions of a [`Migrations`]: a list, or the macro's compact table with its views
/// built on first use (the heads' on their own: the boot check needs no other).
#[derive(Debug)]
enum Revisions {
    Listed(Cow<'static, [Revision]>),
    Packed {
        table: &'static EmbeddedTable,
        all: OnceLock<Box<[Revision]>>,
        heads: OnceLock<Box<[Revision]>>,
    },
}

/// The tables of replaced revisions (docs/design.md §2.3): the macro's statics, or loaded.
#[derive(Debug)]
enum CatchUp {
    Static(&'static [(u32, &'static Migrations)]),
    Owned(Vec<(usize, Migrations)>),
}

impl Migrations {
    #[doc(hidden)]
    pub const fn __from_static(
        revisions: &'static [Revision],
        heads: &'static [u32],
        dir: &'static str,
        source_dir: Option<&'static str>,
        multiple_heads_allowed: bool,
    ) -> Migrations {
        Migrations::__from_static_with_repeatables(
            revisions,
            heads,
            dir,
            source_dir,
            multiple_heads_allowed,
            &[],
        )
    }

    /// [`__from_static`](Self::__from_static) for a directory with repeatable revisions:
    /// `repeatables` in the order they are applied.
    #[doc(hidden)]
    pub const fn __from_static_with_repeatables(
        revisions: &'static [Revision],
        heads: &'static [u32],
        dir: &'static str,
        source_dir: Option<&'static str>,
        multiple_heads_allowed: bool,
        repeatables: &'static [Revision],
    ) -> Migrations {
        Migrations::__from_static_with_catch_up(
            revisions,
            heads,
            dir,
            source_dir,
            multiple_heads_allowed,
            repeatables,
            &[],
        )
    }

    /// [`__from_static_with_repeatables`](Self::__from_static_with_repeatables) with the
    /// tables of the revisions that baselines replace, by the baseline's index
    /// (docs/design.md §2.3).
    #[doc(hidden)]
    pub const fn __from_static_with_catch_up(
        revisions: &'static [Revision],
        heads: &'static [u32],
        dir: &'static str,
        source_dir: Option<&'static str>,
        multiple_heads_allowed: bool,
        repeatables: &'static [Revision],
        catch_up: &'static [(u32, &'static Migrations)],
    ) -> Migrations {
        let revisions = Revisions::Listed(Cow::Borrowed(revisions));
        let statics = (heads, dir, source_dir, repeatables, catch_up);
        Migrations::of_statics(revisions, statics, multiple_heads_allowed)
    }

    /// The table `migrations!` writes: its revisions in compact form
    /// ([`revchain_core::packed`]), the rest as for
    /// [`__from_static_with_catch_up`](Self::__from_static_with_catch_up).
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    pub const fn __from_table(
        table: &'static EmbeddedTable,
        heads: &'static [u32],
        dir: &'static str,
        source_dir: Option<&'static str>,
        multiple_heads_allowed: bool,
        repeatables: &'static [Revision],
        catch_up: &'static [(u32, &'static Migrations)],
    ) -> Migrations {
        let revisions = Revisions::Packed {
            table,
            all: OnceLock::new(),
            heads: OnceLock::new(),
        };
        let statics = (heads, dir, source_dir, repeatables, catch_up);
        Migrations::of_statics(revisions, statics, multiple_heads_allowed)
    }

    /// A table of `'static` parts: `(heads, dir, source_dir, repeatables, catch_up)`.
    #[allow(clippy::type_complexity)]
    const fn of_statics(
        revisions: Revisions,
        (heads, dir, source_dir, repeatables, catch_up): (
            &'static [u32],
            &'static str,
            Option<&'static str>,
            &'static [Revision],
            &'static [(u32, &'static Migrations)],
        ),
        multiple_heads_allowed: bool,
    ) -> Migrations {
        Migrations {
            revisions,
            heads: Cow::Borrowed(heads),
            dir: Cow::Borrowed(dir),
            source_dir: match source_dir {
                Some(s) => Some(Cow::Borrowed(s)),
                None => None,
            },
            multiple_heads_allowed,
            graph: OnceLock::new(),
            stale_check: Once::new(),
            repeatables: Cow::Borrowed(repeatables),
            resolved_repeatables: OnceLock::new(),
            catch_up: CatchUp::Static(catch_up),
        }
    }

    /// The revisions, their views built on first use.
    fn revisions(&self) -> &[Revision] {
        match &self.revisions {
            Revisions::Listed(all) => all,
            Revisions::Packed { table, all, .. } => {
                all.get_or_init(|| (0..table.len()).map(|i| table.view(i)).collect())
            }
        }
    }

    /// Builds a table from a directory loaded with `revchain-core` (what the `revchain`
    /// binary does with `--dir`). `dir` is how the directory is named in messages.
    pub fn from_history(history: History, dir: &str) -> Migrations {
        let catch_up = (0..history.revisions().len())
            .filter_map(|i| {
                let sub = history.catch_up(i)?;
                Some((i, Migrations::from_history(sub, dir)))
            })
            .collect();
        let graph = history.graph().clone();
        let revisions: Vec<Revision> = history
            .revisions()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let node = graph.node(i);
                let digests = (history.checksum(i), history.chain_digest(i));
                revision_of(f, &node.parents, &node.depends_on, digests)
            })
            .collect();
        let repeatables: Vec<Revision> = history
            .repeatable_files()
            .iter()
            .map(|f| revision_of(f, &[], &[], (f.checksum(), f.checksum())))
            .collect();
        let heads: Vec<u32> = graph
            .heads()
            .iter()
            .map(|&h| u32::try_from(h).unwrap_or(u32::MAX))
            .collect();
        Migrations {
            revisions: Revisions::Listed(Cow::Owned(revisions)),
            heads: Cow::Owned(heads),
            dir: dir.to_owned().into(),
            source_dir: None,
            multiple_heads_allowed: true,
            graph: OnceLock::from(graph),
            stale_check: Once::new(),
            repeatables: Cow::Owned(repeatables),
            resolved_repeatables: OnceLock::from(history.repeatables().clone()),
            catch_up: CatchUp::Owned(catch_up),
        }
    }

    /// The table of the revisions that baseline `index` replaces, when their files were
    /// loaded with it (the `revchain` binary with `--dir`): what a database in the middle
    /// of the squashed range is caught up with (docs/design.md §2.3).
    pub fn catch_up(&self, index: usize) -> Option<&Migrations> {
        match &self.catch_up {
            CatchUp::Static(tables) => tables
                .iter()
                .find(|(i, _)| *i as usize == index)
                .map(|(_, m)| *m),
            CatchUp::Owned(tables) => tables.iter().find(|(i, _)| *i == index).map(|(_, m)| m),
        }
    }

    /// The repeatable revisions (`Repeatable: true`, docs/design.md §4.10), in the order
    /// they are applied. They are not part of [`iter`](Self::iter), the graph or the heads;
    /// their [`chain_digest`](Revision::chain_digest) is their checksum, their
    /// [`depends_on`](Revision::depends_on) the ids and labels as written.
    pub fn repeatables(&self) -> &[Revision] {
        &self.repeatables
    }

    /// The repeatables resolved against the graph (built on first use), in the order of
    /// [`repeatables`](Self::repeatables).
    pub fn resolved_repeatables(&self) -> &Repeatables {
        self.resolved_repeatables.get_or_init(|| {
            let specs: Vec<Spec<'_>> = self
                .repeatables
                .iter()
                .map(|r| Spec {
                    id: r.id(),
                    depends_on: r.depends_on().collect(),
                    checksum: r.checksum(),
                    path: r.path(),
                    id_line: r.id_line(),
                    depends_on_line: r.id_line(),
                })
                .collect();
            // The macro validated them; should the table be inconsistent, no repeatable
            // runs, and the error is logged.
            Repeatables::resolve(&specs, self.graph()).unwrap_or_else(|e| {
                tracing::error!(target: "revchain", "the embedded repeatable revisions are inconsistent: {e:?}");
                Repeatables::default()
            })
        })
    }

    /// The revisions in their stable topological order (parents before children).
    pub fn iter(&self) -> std::slice::Iter<'_, Revision> {
        self.revisions().iter()
    }

    /// The number of revisions.
    pub fn len(&self) -> usize {
        match &self.revisions {
            Revisions::Listed(all) => all.len(),
            Revisions::Packed { table, .. } => table.len(),
        }
    }

    /// Whether there is no revision.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The revision at `index` in the table order.
    pub fn at(&self, index: usize) -> Option<&Revision> {
        self.revisions().get(index)
    }

    /// The heads: revisions that no revision revises.
    pub fn heads(&self) -> impl Iterator<Item = &Revision> {
        // The boot check reads the heads only: their views are built without the others'.
        let (views, listed): (&[Revision], &[Revision]) = match &self.revisions {
            Revisions::Listed(all) => (&[], all),
            Revisions::Packed { table, heads, .. } => {
                (heads.get_or_init(|| table.views(&self.heads)), &[])
            }
        };
        let listed = self.heads.iter().filter_map(|&h| listed.get(h as usize));
        views.iter().chain(listed)
    }

    /// How the migrations directory is named in messages (e.g. `migrations`).
    pub fn dir(&self) -> &str {
        &self.dir
    }

    /// Whether the table was built with `allow_multiple_heads`.
    pub fn multiple_heads_allowed(&self) -> bool {
        self.multiple_heads_allowed
    }

    /// Finds a revision by full id, branch label, or unique id prefix.
    ///
    /// ```
    /// # static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
    /// # fn main() -> Result<(), revchain::TargetError> {
    /// let rev = MIGRATIONS.get("3f2a")?;
    /// assert_eq!(rev.id(), "3f2a9c01b7de");
    /// assert_eq!(rev.message(), "create users");
    /// assert!(MIGRATIONS.get("ffff").is_err());
    /// # Ok(()) }
    /// ```
    pub fn get(&self, id_or_prefix: &str) -> Result<&Revision, TargetError> {
        let i = self.graph().lookup(id_or_prefix)?;
        self.revisions()
            .get(i)
            .ok_or_else(|| TargetError::Unknown(id_or_prefix.to_owned()))
    }

    /// The index of the revision with exactly this id.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.graph().find(id)
    }

    /// The revision graph (built on first use).
    pub fn graph(&self) -> &Graph {
        self.graph.get_or_init(|| {
            let nodes: Vec<Node> = self
                .iter()
                .map(|r| Node {
                    id: r.id().to_owned(),
                    parents: r.parent_indices().collect(),
                    depends_on: r.__parts.depends_on.iter().map(|&d| d as usize).collect(),
                    branch_labels: r.branch_labels().map(str::to_owned).collect(),
                    reversible: r.is_reversible(),
                })
                .collect();
            // The macro validated the table; should it ever be inconsistent, an empty graph
            // makes every lookup fail with a clear error instead of a panic.
            Graph::from_nodes(nodes).unwrap_or_else(|e| {
                tracing::error!(target: "revchain", "the embedded revision table is inconsistent: {e}");
                Graph::default()
            })
        })
    }

    /// Plans `upgrade`, `downgrade` or `stamp` from the given current heads (ids) with
    /// revchain-core's resolution: the same answer the CLI gives.
    ///
    /// ```
    /// # static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
    /// # fn main() -> Result<(), revchain::TargetError> {
    /// use revchain::Direction;
    ///
    /// // From an empty database: every revision, parents first.
    /// let plan = MIGRATIONS.resolve(Direction::Upgrade, "head", &[])?;
    /// assert_eq!(plan.steps.len(), MIGRATIONS.len());
    ///
    /// // One step back from the head.
    /// let plan = MIGRATIONS.resolve(Direction::Downgrade, "-1", &["8b41d2e6f05c"])?;
    /// assert_eq!(plan.revisions(), [1]);
    /// # Ok(()) }
    /// ```
    pub fn resolve(
        &self,
        direction: revchain_core::Direction,
        target: &str,
        current_heads: &[&str],
    ) -> Result<Plan, TargetError> {
        let target: Target = target.parse()?;
        let current = self.indices(current_heads)?;
        match direction {
            revchain_core::Direction::Upgrade => self.graph().plan_upgrade(&target, &current),
            revchain_core::Direction::Downgrade => self.graph().plan_downgrade(&target, &current),
        }
    }

    /// Plans `stamp target` from the given current heads (ids).
    pub fn resolve_stamp(
        &self,
        target: &str,
        current_heads: &[&str],
    ) -> Result<StampPlan, TargetError> {
        let target: Target = target.parse()?;
        let current = self.indices(current_heads)?;
        self.graph().plan_stamp(&target, &current)
    }

    fn indices(&self, ids: &[&str]) -> Result<Vec<usize>, TargetError> {
        ids.iter()
            .map(|id| {
                self.graph()
                    .find(id)
                    .ok_or_else(|| TargetError::UnknownCurrent((*id).to_owned()))
            })
            .collect()
    }

    /// In debug builds, once per process: warns (through `tracing`) when the migrations
    /// directory is still on disk and holds revisions that this binary does not embed
    /// (cargo did not rebuild after a new file; see [`crate::build::track`]).
    pub fn warn_if_stale(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        let Some(dir) = self.source_dir.as_deref() else {
            return;
        };
        self.stale_check.call_once(|| {
            let embedded: std::collections::HashSet<&str> = self
                .iter()
                .chain(self.repeatables.iter())
                .filter_map(|r| r.path().rsplit(['/', '\\']).next())
                .collect();
            for file in crate::build::revision_files(dir.as_ref()) {
                if !embedded.contains(file.as_str()) {
                    crate::report::warn(&format!(
                        "{}/{file} is not embedded in this binary: it was added after the last \
                         build; rebuild (and call `revchain::build::track(\"{}\")` from build.rs \
                         so that cargo rebuilds when a migration file is added)",
                        self.dir, self.dir
                    ));
                }
            }
        });
    }
}

/// The table entry of a parsed file; `parents` and `depends_on` are graph indices.
fn revision_of(
    f: &RevisionFile,
    parents: &[usize],
    depends_on: &[usize],
    (checksum, chain_digest): (Digest, Digest),
) -> Revision {
    let index = |v: &[usize]| -> Vec<u32> { v.iter().map(|&p| line(p)).collect() };
    Revision {
        __parts: RevisionParts {
            id: f.id.clone().into(),
            message: f.message.clone().into(),
            parent_ids: f.parents.join(", ").into(),
            parents: index(parents).into(),
            depends_on_names: f.depends_on.join(", ").into(),
            depends_on: index(depends_on).into(),
            branch_labels: f.branch_labels.join(", ").into(),
            create_date: f.create_date.clone().map(Into::into),
            transactional: f.transactional,
            upgrade_sql: f.upgrade.sql.clone().into(),
            upgrade_line: line(f.upgrade.line),
            downgrade_sql: f.downgrade.as_ref().map(|d| d.sql.clone().into()),
            downgrade_line: f.downgrade.as_ref().map_or(0, |d| line(d.line)),
            path: f.path.clone().into(),
            id_line: line(f.lines.id),
            checksum,
            chain_digest,
            code: uncompiled_code(f),
            replaces: f.replaces.join(", ").into(),
            lock_timeout_ms: millis(f.lock_timeout),
            statement_timeout_ms: millis(f.statement_timeout),
            contract: f.phase == revchain_core::Phase::Contract,
        },
    }
}

/// A Rust code revision read from disk: known, listed and stamped, but its functions are
/// not in this binary.
fn uncompiled_code(f: &revchain_core::RevisionFile) -> Option<crate::code::CodeRevision> {
    if !revchain_core::code::is_rust(f) {
        return None;
    }
    let lines: Vec<&str> = f.upgrade.sql.lines().collect();
    let at = |name: &str| {
        revchain_core::code::function_line(&lines, name).map_or(0, |l| line(f.upgrade.line + l - 1))
    };
    Some(crate::code::CodeRevision {
        upgrade: None,
        downgrade: None,
        upgrade_line: at("upgrade"),
        downgrade_line: at("downgrade"),
    })
}

/// A header's duration in milliseconds for the table (0: none; a zero duration, which
/// means "no timeout" to the databases too, is the same).
fn millis(d: Option<std::time::Duration>) -> u64 {
    d.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn line(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
