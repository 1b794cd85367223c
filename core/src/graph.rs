//! The revision graph (docs/design.md §2.1): validation of a set of revision files, the stable
//! topological order, heads, bases, branch and merge points, labels and dependencies.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::fmt;

use crate::parse::RevisionFile;

/// One revision as the graph sees it: its id and its edges, by index into the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The revision id.
    pub id: String,
    /// Indices of the parents (`Revises`), in the order written.
    pub parents: Vec<usize>,
    /// Indices of the revisions named by `Depends On`.
    pub depends_on: Vec<usize>,
    /// `Branch Labels`.
    pub branch_labels: Vec<String>,
    /// Whether the revision has a downgrade section.
    pub reversible: bool,
}

/// A validated revision graph whose nodes are stored in topological order: every parent
/// and dependency of a node has a smaller index than the node. The default is the empty
/// graph.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    nodes: Vec<Node>,
    by_id: HashMap<String, usize>,
    labels: HashMap<String, usize>,
    children: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
    heads: Vec<usize>,
}

/// A table handed to [`Graph::from_nodes`] that is not in topological order or repeats an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the revision table is inconsistent at `{id}`: {problem}")]
pub struct TableError {
    /// The revision where the problem shows.
    pub id: String,
    /// What is wrong.
    pub problem: &'static str,
}

impl Graph {
    /// Builds a graph from nodes that are already in topological order (as the
    /// `migrations!` table is). Fails, instead of panicking, on a table that is not.
    pub fn from_nodes(nodes: Vec<Node>) -> Result<Graph, TableError> {
        let mut by_id = HashMap::with_capacity(nodes.len());
        let mut labels = HashMap::new();
        let mut children = vec![Vec::new(); nodes.len()];
        let mut dependents = vec![Vec::new(); nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            let err = |problem| TableError {
                id: node.id.clone(),
                problem,
            };
            if by_id.insert(node.id.clone(), i).is_some() {
                return Err(err("the id appears twice"));
            }
            for label in &node.branch_labels {
                if labels.insert(label.clone(), i).is_some() {
                    return Err(err("a branch label appears twice"));
                }
            }
            for &p in &node.parents {
                if p >= i {
                    return Err(err("a parent comes after its child"));
                }
                children[p].push(i);
            }
            for &d in &node.depends_on {
                if d >= i {
                    return Err(err("a dependency comes after its dependent"));
                }
                dependents[d].push(i);
            }
        }
        let heads = (0..nodes.len())
            .filter(|&i| children[i].is_empty())
            .collect();
        Ok(Graph {
            nodes,
            by_id,
            labels,
            children,
            dependents,
            heads,
        })
    }

    /// The number of revisions.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph has no revision.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// All nodes, in topological order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node at `index`.
    ///
    /// # Panics
    /// If `index >= self.len()`; indices come from this graph.
    pub fn node(&self, index: usize) -> &Node {
        &self.nodes[index]
    }

    /// The id of the node at `index`.
    pub fn id(&self, index: usize) -> &str {
        &self.nodes[index].id
    }

    /// The index of the revision with exactly this id.
    pub fn find(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// The index of the revision that carries this branch label.
    pub fn find_label(&self, label: &str) -> Option<usize> {
        self.labels.get(label).copied()
    }

    /// The revisions that name `index` in `Revises`, in topological order.
    pub fn children(&self, index: usize) -> &[usize] {
        &self.children[index]
    }

    /// The revisions that name `index` in `Depends On`.
    pub fn dependents(&self, index: usize) -> &[usize] {
        &self.dependents[index]
    }

    /// The heads (revisions nobody revises), in topological order.
    pub fn heads(&self) -> &[usize] {
        &self.heads
    }

    /// The bases (revisions that revise nothing), in topological order.
    pub fn bases(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.nodes[i].parents.is_empty())
            .collect()
    }

    /// Whether `index` is a head.
    pub fn is_head(&self, index: usize) -> bool {
        self.children[index].is_empty()
    }

    /// Whether several revisions revise `index`.
    pub fn is_branch_point(&self, index: usize) -> bool {
        self.children[index].len() > 1
    }

    /// Whether `index` revises several revisions.
    pub fn is_merge_point(&self, index: usize) -> bool {
        self.nodes[index].parents.len() > 1
    }

    /// Marks `roots` and their ancestors through both kinds of edge, `Revises` (parents)
    /// and `Depends On` (dependencies), transitively: everything `roots` need applied. The
    /// applied set of a state is this closure of its heads.
    ///
    /// ```
    /// # use revchain_core::{Graph, graph::Node};
    /// let node = |id: &str, parents: Vec<usize>, depends_on: Vec<usize>| Node { id: id.into(), parents, depends_on, branch_labels: vec![], reversible: true };
    /// // a ← b, and c depends on b.
    /// let g = Graph::from_nodes(vec![node("a", vec![], vec![]), node("b", vec![0], vec![]), node("c", vec![], vec![1])]).unwrap();
    /// assert_eq!(g.ancestors_with_dependencies([2]), [true, true, true]);
    /// assert_eq!(g.ancestors_by_revises([2]), [false, false, true]);
    /// ```
    pub fn ancestors_with_dependencies(&self, roots: impl IntoIterator<Item = usize>) -> Vec<bool> {
        let mut mark = vec![false; self.len()];
        for r in roots {
            mark[r] = true;
        }
        // Nodes are in topological order: one backward sweep closes the set.
        for i in (0..self.len()).rev() {
            if mark[i] {
                let n = &self.nodes[i];
                for &p in n.parents.iter().chain(&n.depends_on) {
                    mark[p] = true;
                }
            }
        }
        mark
    }

    /// Marks `roots` and their ancestors through `Revises` edges (parents) only, not
    /// `Depends On`: the branch lineage used for labels and relative steps. See
    /// [`ancestors_with_dependencies`](Self::ancestors_with_dependencies) for an example.
    pub fn ancestors_by_revises(&self, roots: impl IntoIterator<Item = usize>) -> Vec<bool> {
        let mut mark = vec![false; self.len()];
        for r in roots {
            mark[r] = true;
        }
        for i in (0..self.len()).rev() {
            if mark[i] {
                for &p in &self.nodes[i].parents {
                    mark[p] = true;
                }
            }
        }
        mark
    }

    /// Marks `roots` and their descendants through both kinds of edge, `Revises`
    /// (children) and `Depends On` (dependents), transitively: everything that needs `roots`,
    /// which a downgrade below them reverts.
    ///
    /// ```
    /// # use revchain_core::{Graph, graph::Node};
    /// let node = |id: &str, parents: Vec<usize>, depends_on: Vec<usize>| Node { id: id.into(), parents, depends_on, branch_labels: vec![], reversible: true };
    /// // a ← b, and c depends on a.
    /// let g = Graph::from_nodes(vec![node("a", vec![], vec![]), node("b", vec![0], vec![]), node("c", vec![], vec![0])]).unwrap();
    /// assert_eq!(g.descendants_with_dependents([0]), [true, true, true]);
    /// assert_eq!(g.descendants_by_revises([0]), [true, true, false]);
    /// ```
    pub fn descendants_with_dependents(&self, roots: impl IntoIterator<Item = usize>) -> Vec<bool> {
        let mut mark = vec![false; self.len()];
        for r in roots {
            mark[r] = true;
        }
        for i in 0..self.len() {
            if !mark[i] {
                let n = &self.nodes[i];
                mark[i] = n.parents.iter().chain(&n.depends_on).any(|&p| mark[p]);
            }
        }
        mark
    }

    /// The heads of an applied set: applied revisions that no applied revision revises.
    /// These are the rows of the version table.
    pub fn heads_of(&self, applied: &[bool]) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| applied[i] && !self.children[i].iter().any(|&c| applied[c]))
            .collect()
    }

    /// The branch labels that `index` itself carries.
    pub fn labels_of(&self, index: usize) -> &[String] {
        &self.nodes[index].branch_labels
    }
}

/// A revision named in a graph error: its id, file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The revision id.
    pub id: String,
    /// The file.
    pub path: String,
    /// The line that matters (of `Revision ID` or `Revises`).
    pub line: usize,
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}:{})", self.id, self.path, self.line)
    }
}

/// A problem with the graph formed by several revision files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Two files declare the same id.
    #[error(
        "{path}:{line}: duplicate revision id `{id}`: {first_path}:{first_line} declares it too; \
         give one of them a new id"
    )]
    DuplicateId {
        /// The id.
        id: String,
        /// The second file.
        path: String,
        /// Its `Revision ID` line.
        line: usize,
        /// The first file.
        first_path: String,
        /// Its `Revision ID` line.
        first_line: usize,
    },
    /// `Revises` names an id nobody declares.
    #[error(
        "{path}:{line}: revision `{id}` revises `{parent}`, which no file in the directory \
         declares{hint}"
    )]
    MissingParent {
        /// The revision with the bad line.
        id: String,
        /// The missing parent.
        parent: String,
        /// The file.
        path: String,
        /// Its `Revises` line.
        line: usize,
        /// A likely fix, starting with `; `.
        hint: String,
    },
    /// `Depends On` names an id or label nobody declares.
    #[error(
        "{path}:{line}: revision `{id}` depends on `{dependency}`, which is neither a revision \
         id nor a branch label in the directory; fix the `Depends On` line"
    )]
    MissingDependency {
        /// The revision with the bad line.
        id: String,
        /// The missing dependency.
        dependency: String,
        /// The file.
        path: String,
        /// Its `Depends On` line.
        line: usize,
    },
    /// Two revisions carry the same branch label.
    #[error(
        "{path}:{line}: branch label `{label}` is also on revision `{first_id}` ({first_path}); \
         labels name one branch each"
    )]
    DuplicateLabel {
        /// The label.
        label: String,
        /// The second file.
        path: String,
        /// Its `Branch Labels` line.
        line: usize,
        /// The revision that carries it first.
        first_id: String,
        /// That revision's file.
        first_path: String,
    },
    /// A branch label equal to a revision id.
    #[error(
        "{path}:{line}: branch label `{label}` is also the id of a revision ({other_path}); \
         choose another label"
    )]
    LabelIsId {
        /// The label.
        label: String,
        /// The file with the label.
        path: String,
        /// Its `Branch Labels` line.
        line: usize,
        /// The file of the revision with that id.
        other_path: String,
    },
    /// Two ids that differ only in letter case (`abc` and `ABC`): MySQL/MariaDB's default
    /// collations and the macOS and Windows file systems (a file's name starts with its
    /// id) cannot tell them apart, so such a history is not portable.
    #[error(
        "{path}:{line}: revision id `{id}` differs only in letter case from `{first_id}` \
         ({first_path}:{first_line}); MySQL/MariaDB and the macOS and Windows file systems cannot \
         tell such ids apart, so give one of them another id"
    )]
    IdsDifferOnlyInCase {
        /// The second id.
        id: String,
        /// Its file.
        path: String,
        /// Its `Revision ID` line.
        line: usize,
        /// The first id.
        first_id: String,
        /// Its file.
        first_path: String,
        /// Its `Revision ID` line.
        first_line: usize,
    },
    /// Two branch labels, or a label and an id, that differ only in letter case.
    #[error(
        "{path}:{line}: branch label `{label}` differs only in letter case from `{other}` \
         ({other_path}); labels and ids must differ in more than case (MySQL/MariaDB and the \
         macOS and Windows file systems cannot tell them apart), so choose another label"
    )]
    LabelsDifferOnlyInCase {
        /// The label.
        label: String,
        /// The file with the label.
        path: String,
        /// Its `Branch Labels` line.
        line: usize,
        /// The other label or id.
        other: String,
        /// The file that carries it.
        other_path: String,
    },
    /// Revisions that revise (or depend on) each other in a circle.
    #[error("{}", cycle_text(.0))]
    Cycle(Vec<Member>),
    /// More than one head, and not all but one on labelled branches.
    #[error("{}", heads_text(.0))]
    MultipleHeads(Vec<Member>),
}

fn cycle_text(members: &[Member]) -> String {
    let first = &members[0];
    let mut chain: Vec<String> = members
        .windows(2)
        .map(|w| format!("`{}` needs `{}`", w[0].id, w[1].id))
        .collect();
    if let (Some(last), Some(first)) = (members.last(), members.first()) {
        chain.push(format!("`{}` needs `{}`", last.id, first.id));
    }
    let places: Vec<String> = members.iter().map(Member::to_string).collect();
    format!(
        "{}:{}: cycle in the revision graph: {} ({}); a revision cannot be its own ancestor, so fix \
         one of these `Revises` or `Depends On` lines",
        first.path,
        first.line,
        chain.join(", "),
        places.join(", ")
    )
}

fn heads_text(heads: &[Member]) -> String {
    let first = &heads[0];
    let list: Vec<String> = heads
        .iter()
        .map(|h| format!("{} ({})", h.id, h.path))
        .collect();
    format!(
        "{}:{}: the revision graph has {} heads: {}; merge them with `revchain merge -m \"merge \
         heads\" heads`, or give each extra branch a `Branch Labels` line",
        first.path,
        first.line,
        heads.len(),
        list.join(", ")
    )
}

impl GraphError {
    /// The file and line the error points at.
    pub fn location(&self) -> (&str, usize) {
        match self {
            GraphError::DuplicateId { path, line, .. }
            | GraphError::MissingParent { path, line, .. }
            | GraphError::MissingDependency { path, line, .. }
            | GraphError::DuplicateLabel { path, line, .. }
            | GraphError::LabelIsId { path, line, .. }
            | GraphError::IdsDifferOnlyInCase { path, line, .. }
            | GraphError::LabelsDifferOnlyInCase { path, line, .. } => (path, *line),
            GraphError::Cycle(m) | GraphError::MultipleHeads(m) => {
                m.first().map_or(("", 0), |m| (m.path.as_str(), m.line))
            }
        }
    }
}

/// The id or label (and its file) that `label` equals but for letter case, if any.
fn label_case_twin(
    label: &str,
    files: &[RevisionFile],
    by_folded_id: &HashMap<String, usize>,
    folded_labels: &HashMap<String, (String, usize)>,
) -> Option<(String, String)> {
    let folded = label.to_lowercase();
    if let Some(&i) = by_folded_id.get(&folded) {
        return Some((files[i].id.clone(), files[i].path.clone()));
    }
    folded_labels
        .get(&folded)
        .map(|(other, i)| (other.clone(), files[*i].path.clone()))
}

/// Validates `files` as one revision graph and returns it with the order of `files` in it:
/// `order[k]` is the index into `files` of the graph's node `k`.
///
/// Every problem is reported, sorted by file and line. The steps: `collect_ids`, then
/// `collect_labels`, `resolve_edges`, `stable_order` and `cycles`; when nothing is wrong,
/// `assemble`. The one-head rule is not checked here; see [`check_heads`].
pub fn build(files: &[RevisionFile]) -> Result<(Graph, Vec<usize>), Vec<GraphError>> {
    let mut errors = Vec::new();
    let ids = collect_ids(files, &mut errors);
    let labels = collect_labels(files, &ids, &mut errors);
    let edges = resolve_edges(files, &ids, &labels, &mut errors);
    let order = stable_order(files, &ids.live, &edges);
    errors.extend(cycles(files, &ids.live, &edges, &order));
    if !errors.is_empty() {
        errors.sort_by(|a, b| a.location().cmp(&b.location()));
        return Err(errors);
    }
    assemble(files, &edges, order)
}

/// The ids the files declare: the first file to declare an id owns it.
struct Ids<'f> {
    /// Each id's file.
    by_id: HashMap<&'f str, usize>,
    /// The same ids folded to lower case: ids that differ only in case are refused.
    by_folded_id: HashMap<String, usize>,
    /// Whether each file takes part in the graph (a duplicate id does not).
    live: Vec<bool>,
}

/// Step 1: the ids, refusing duplicates and ids that differ only in letter case.
fn collect_ids<'f>(files: &'f [RevisionFile], errors: &mut Vec<GraphError>) -> Ids<'f> {
    let mut ids = Ids {
        by_id: HashMap::with_capacity(files.len()),
        by_folded_id: HashMap::with_capacity(files.len()),
        live: vec![true; files.len()],
    };
    for (i, f) in files.iter().enumerate() {
        if let Some(&first) = ids.by_id.get(f.id.as_str()) {
            errors.push(GraphError::DuplicateId {
                id: f.id.clone(),
                path: f.path.clone(),
                line: f.lines.id,
                first_path: files[first].path.clone(),
                first_line: files[first].lines.id,
            });
            ids.live[i] = false;
        } else if let Some(&first) = ids.by_folded_id.get(&f.id.to_lowercase()) {
            errors.push(GraphError::IdsDifferOnlyInCase {
                id: f.id.clone(),
                path: f.path.clone(),
                line: f.lines.id,
                first_id: files[first].id.clone(),
                first_path: files[first].path.clone(),
                first_line: files[first].lines.id,
            });
            // Still an id for the edges: `Revises` lines that name it get no second error.
            ids.by_id.insert(&f.id, i);
        } else {
            ids.by_id.insert(&f.id, i);
            ids.by_folded_id.insert(f.id.to_lowercase(), i);
        }
    }
    ids
}

/// The branch labels accepted so far.
#[derive(Default)]
struct Labels<'f> {
    /// Each label's file.
    by_label: HashMap<&'f str, usize>,
    /// The labels folded to lower case, with the label as written and its file.
    folded: HashMap<String, (String, usize)>,
}

/// Step 2: the branch labels of the live files, each label's file. A label that is an
/// id, repeats another, or differs from an id or a label only in case is refused.
fn collect_labels<'f>(
    files: &'f [RevisionFile],
    ids: &Ids<'f>,
    errors: &mut Vec<GraphError>,
) -> HashMap<&'f str, usize> {
    let mut labels = Labels::default();
    for (i, f) in files.iter().enumerate().filter(|(i, _)| ids.live[*i]) {
        let line = f.lines.branch_labels.unwrap_or(f.lines.id);
        for label in &f.branch_labels {
            match label_error(label, (f, line), files, ids, &labels) {
                Some(error) => errors.push(error),
                None => {
                    labels.by_label.insert(label, i);
                    labels
                        .folded
                        .insert(label.to_lowercase(), (label.clone(), i));
                }
            }
        }
    }
    labels.by_label
}

/// Why `label`, written in file `at.0` on line `at.1`, cannot be a label given the ids
/// and the labels accepted so far, if it cannot.
fn label_error(
    label: &str,
    (f, line): (&RevisionFile, usize),
    files: &[RevisionFile],
    ids: &Ids<'_>,
    labels: &Labels<'_>,
) -> Option<GraphError> {
    let (label, path) = (label.to_owned(), f.path.clone());
    if let Some(&other) = ids.by_id.get(label.as_str()) {
        return Some(GraphError::LabelIsId {
            label,
            path,
            line,
            other_path: files[other].path.clone(),
        });
    }
    if let Some(&first) = labels.by_label.get(label.as_str()) {
        return Some(GraphError::DuplicateLabel {
            label,
            path,
            line,
            first_id: files[first].id.clone(),
            first_path: files[first].path.clone(),
        });
    }
    let (other, other_path) = label_case_twin(&label, files, &ids.by_folded_id, &labels.folded)?;
    Some(GraphError::LabelsDifferOnlyInCase {
        label,
        path,
        line,
        other,
        other_path,
    })
}

/// The edges of the live files, as indices into the files.
struct Edges {
    /// `Revises`, in the order written.
    parents: Vec<Vec<usize>>,
    /// `Depends On` (ids or labels), each once.
    depends: Vec<Vec<usize>>,
}

impl Edges {
    /// What file `i` needs: its parents, then its dependencies.
    fn prerequisites(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.parents[i].iter().chain(&self.depends[i]).copied()
    }
}

/// Step 3: `Revises` and `Depends On` resolved to files; a name nobody declares is refused.
fn resolve_edges(
    files: &[RevisionFile],
    ids: &Ids<'_>,
    labels: &HashMap<&str, usize>,
    errors: &mut Vec<GraphError>,
) -> Edges {
    let mut edges = Edges {
        parents: vec![Vec::new(); files.len()],
        depends: vec![Vec::new(); files.len()],
    };
    for (i, f) in files.iter().enumerate().filter(|(i, _)| ids.live[*i]) {
        for p in &f.parents {
            match ids.by_id.get(p.as_str()) {
                Some(&j) => edges.parents[i].push(j),
                None => errors.push(GraphError::MissingParent {
                    id: f.id.clone(),
                    parent: p.clone(),
                    path: f.path.clone(),
                    line: f.revises_line(),
                    hint: missing_parent_hint(p, files, labels),
                }),
            }
        }
        for d in &f.depends_on {
            match ids.by_id.get(d.as_str()).or_else(|| labels.get(d.as_str())) {
                Some(&j) if edges.depends[i].contains(&j) => {}
                Some(&j) => edges.depends[i].push(j),
                None => errors.push(GraphError::MissingDependency {
                    id: f.id.clone(),
                    dependency: d.clone(),
                    path: f.path.clone(),
                    line: f.lines.depends_on.unwrap_or(f.lines.id),
                }),
            }
        }
    }
    edges
}

/// Step 4: the stable topological order of the live files (Kahn's algorithm, smallest id
/// first among the ready). Files on or behind a cycle are left out.
fn stable_order(files: &[RevisionFile], live: &[bool], edges: &Edges) -> Vec<usize> {
    let mut pending = vec![0usize; files.len()];
    let mut needed_by: Vec<Vec<usize>> = vec![Vec::new(); files.len()];
    for i in (0..files.len()).filter(|&i| live[i]) {
        let mut prereqs: Vec<usize> = edges.prerequisites(i).collect();
        prereqs.sort_unstable();
        prereqs.dedup();
        pending[i] = prereqs.len();
        for p in prereqs {
            needed_by[p].push(i);
        }
    }
    let mut ready: BinaryHeap<Reverse<(&str, usize)>> = (0..files.len())
        .filter(|&i| live[i] && pending[i] == 0)
        .map(|i| Reverse((files[i].id.as_str(), i)))
        .collect();
    let mut order = Vec::with_capacity(files.len());
    while let Some(Reverse((_, i))) = ready.pop() {
        order.push(i);
        for &c in &needed_by[i] {
            pending[c] -= 1;
            if pending[c] == 0 {
                ready.push(Reverse((files[c].id.as_str(), c)));
            }
        }
    }
    order
}

/// Step 5: one cycle error for each cycle among the live files that `order` left out.
fn cycles(
    files: &[RevisionFile],
    live: &[bool],
    edges: &Edges,
    order: &[usize],
) -> Vec<GraphError> {
    let mut placed = vec![false; files.len()];
    for &i in order {
        placed[i] = true;
    }
    let stuck: Vec<usize> = (0..files.len())
        .filter(|&i| live[i] && !placed[i])
        .collect();
    if stuck.is_empty() {
        return Vec::new();
    }
    find_cycles(&stuck, |i| edges.prerequisites(i))
        .into_iter()
        .map(|cycle| {
            GraphError::Cycle(
                cycle
                    .into_iter()
                    .map(|i| Member {
                        id: files[i].id.clone(),
                        path: files[i].path.clone(),
                        line: files[i].revises_line(),
                    })
                    .collect(),
            )
        })
        .collect()
}

/// Step 6: the graph of a valid set of files, its nodes in `order`.
fn assemble(
    files: &[RevisionFile],
    edges: &Edges,
    order: Vec<usize>,
) -> Result<(Graph, Vec<usize>), Vec<GraphError>> {
    let mut position = vec![0usize; files.len()];
    for (k, &i) in order.iter().enumerate() {
        position[i] = k;
    }
    let nodes = order
        .iter()
        .map(|&i| Node {
            id: files[i].id.clone(),
            parents: edges.parents[i].iter().map(|&p| position[p]).collect(),
            depends_on: edges.depends[i].iter().map(|&d| position[d]).collect(),
            branch_labels: files[i].branch_labels.clone(),
            reversible: files[i].downgrade.is_some(),
        })
        .collect();
    match Graph::from_nodes(nodes) {
        Ok(graph) => Ok((graph, order)),
        // Unreachable after the checks above; reported rather than trusted.
        Err(e) => Err(vec![GraphError::Cycle(vec![Member {
            id: e.id,
            path: String::new(),
            line: 0,
        }])]),
    }
}

fn missing_parent_hint(
    parent: &str,
    files: &[RevisionFile],
    labels: &HashMap<&str, usize>,
) -> String {
    if labels.contains_key(parent) {
        return format!("; `{parent}` is a branch label, and `Revises` takes revision ids");
    }
    let matches: Vec<&str> = files
        .iter()
        .map(|f| f.id.as_str())
        .filter(|id| id.starts_with(parent))
        .collect();
    match matches.as_slice() {
        [one] => format!("; did you mean `{one}`? `Revises` takes full ids"),
        _ => "; fix the id or add the missing revision".to_owned(),
    }
}

/// Finds one concrete cycle in every strongly connected component of `nodes` (the nodes
/// that Kahn's algorithm could not place). Each cycle starts at its smallest index.
fn find_cycles<I>(nodes: &[usize], edges: impl Fn(usize) -> I) -> Vec<Vec<usize>>
where
    I: Iterator<Item = usize>,
{
    let in_set: HashSet<usize> = nodes.iter().copied().collect();
    let succ = |v: usize| edges(v).filter(|w| in_set.contains(w)).collect::<Vec<_>>();
    let mut cycles = Vec::new();
    for component in strongly_connected(nodes, &succ) {
        if component.len() < 2 {
            continue;
        }
        let members: HashSet<usize> = component.iter().copied().collect();
        let start = component.iter().copied().min().unwrap_or(component[0]);
        // Breadth-first from `start` until an edge returns to it: the shortest cycle.
        let mut prev: HashMap<usize, usize> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        let mut closing = None;
        'bfs: while let Some(v) = queue.pop_front() {
            for w in succ(v) {
                if !members.contains(&w) {
                    continue;
                }
                if w == start {
                    closing = Some(v);
                    break 'bfs;
                }
                if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(w) {
                    e.insert(v);
                    queue.push_back(w);
                }
            }
        }
        let Some(mut v) = closing else { continue };
        let mut path = vec![v];
        while v != start {
            v = prev[&v];
            path.push(v);
        }
        path.reverse();
        cycles.push(path);
    }
    cycles.sort();
    cycles
}

/// Tarjan's algorithm without recursion (chains can be thousands of revisions deep).
fn strongly_connected(nodes: &[usize], succ: &dyn Fn(usize) -> Vec<usize>) -> Vec<Vec<usize>> {
    let mut index: HashMap<usize, usize> = HashMap::new();
    let mut low: HashMap<usize, usize> = HashMap::new();
    let mut on_stack: HashSet<usize> = HashSet::new();
    let mut stack = Vec::new();
    let mut next = 0;
    let mut out = Vec::new();
    for &root in nodes {
        if index.contains_key(&root) {
            continue;
        }
        let mut work: Vec<(usize, Vec<usize>, usize)> = vec![(root, succ(root), 0)];
        index.insert(root, next);
        low.insert(root, next);
        next += 1;
        stack.push(root);
        on_stack.insert(root);
        while let Some((v, ws, k)) = work.last_mut() {
            let v = *v;
            if let Some(&w) = ws.get(*k) {
                *k += 1;
                if let std::collections::hash_map::Entry::Vacant(slot) = index.entry(w) {
                    slot.insert(next);
                    low.insert(w, next);
                    next += 1;
                    stack.push(w);
                    on_stack.insert(w);
                    let ws = succ(w);
                    work.push((w, ws, 0));
                } else if on_stack.contains(&w) {
                    let lw = index[&w].min(low[&v]);
                    low.insert(v, lw);
                }
            } else {
                work.pop();
                if let Some((parent, _, _)) = work.last() {
                    let lp = low[parent].min(low[&v]);
                    low.insert(*parent, lp);
                }
                if low[&v] == index[&v] {
                    let mut component = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack.remove(&w);
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    out.push(component);
                }
            }
        }
    }
    out
}

/// Applies the one-head rule: more than one head is an error unless every head but one
/// sits on a labelled branch (a label on the head or on an ancestor that no other head has).
pub fn check_heads(graph: &Graph, member: impl Fn(usize) -> Member) -> Result<(), GraphError> {
    let heads = graph.heads();
    if heads.len() <= 1 {
        return Ok(());
    }
    // How many heads reach each node, and the last one that did.
    let mut reach = vec![(0usize, usize::MAX); graph.len()];
    for &h in heads {
        let marks = graph.ancestors_by_revises([h]);
        for (i, m) in marks.into_iter().enumerate() {
            if m {
                reach[i].0 += 1;
                reach[i].1 = h;
            }
        }
    }
    let mut labelled = vec![false; graph.len()];
    for (i, node) in graph.nodes().iter().enumerate() {
        if reach[i].0 == 1 && !node.branch_labels.is_empty() {
            labelled[reach[i].1] = true;
        }
    }
    let unlabelled = heads.iter().filter(|&&h| !labelled[h]).count();
    if unlabelled <= 1 {
        return Ok(());
    }
    Err(GraphError::MultipleHeads(
        heads.iter().map(|&h| member(h)).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{file, file_with};

    fn ids(g: &Graph, idx: &[usize]) -> Vec<String> {
        idx.iter().map(|&i| g.id(i).to_owned()).collect()
    }

    #[test]
    fn order_is_topological_and_stable() {
        let files = vec![
            file("d", &["b", "c"]),
            file("c", &["a"]),
            file("b", &["a"]),
            file("a", &[]),
        ];
        let (g, order) = build(&files).unwrap();
        assert_eq!(ids(&g, &(0..4).collect::<Vec<_>>()), ["a", "b", "c", "d"]);
        assert_eq!(order, [3, 2, 1, 0]);
        assert_eq!(ids(&g, g.heads()), ["d"]);
        assert!(g.is_branch_point(0));
        assert!(g.is_merge_point(3));
        let mut rev = files.clone();
        rev.reverse();
        let (g2, _) = build(&rev).unwrap();
        assert_eq!(g2.nodes(), g.nodes());
    }

    #[test]
    fn all_errors_at_once() {
        let files = vec![
            file("a", &[]),
            file("a", &["x"]),
            file("b", &["zz"]),
            file("c", &["e"]),
            file("e", &["c"]),
            file_with("f", &["a"], "-- Depends On: nowhere"),
        ];
        let errs = build(&files).unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(errs.len(), 4, "{text:#?}");
        assert!(
            text[0].starts_with("m/a.sql:2: duplicate revision id `a`: m/a.sql:2 declares it too")
        );
        assert!(text[1].starts_with("m/b.sql:3: revision `b` revises `zz`, which no file"));
        assert!(
            text[2].starts_with(
                "m/c.sql:3: cycle in the revision graph: `c` needs `e`, `e` needs `c`"
            ),
            "{}",
            text[2]
        );
        assert!(text[3].starts_with("m/f.sql:4: revision `f` depends on `nowhere`"));
    }

    #[test]
    fn ids_and_labels_that_differ_only_in_case_are_refused() {
        let errs = build(&[file("abc", &[]), file("ABC", &["abc"])]).unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(
            text[0].starts_with(
                "m/ABC.sql:2: revision id `ABC` differs only in letter case from `abc` (m/abc.sql:2)"
            ),
            "{text:#?}"
        );
        let errs = build(&[
            file_with("a", &[], "-- Branch Labels: Blue"),
            file_with("b", &["a"], "-- Branch Labels: blue"),
            file_with("c", &["a"], "-- Branch Labels: B"),
        ])
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(errs.len(), 2, "{text:#?}");
        assert!(
            text[0]
                .contains("branch label `blue` differs only in letter case from `Blue` (m/a.sql)"),
            "{text:#?}"
        );
        assert!(
            text[1].contains("branch label `B` differs only in letter case from `b` (m/b.sql)"),
            "{text:#?}"
        );
        // Lookups stay case-sensitive: a prefix in the other case finds nothing.
        let (g, _) = build(&[file("abc1", &[]), file("Xyz2", &["abc1"])]).unwrap();
        assert_eq!(
            g.lookup("abc").map(|i| g.id(i).to_owned()),
            Ok("abc1".into())
        );
        assert!(g.lookup("ABC").is_err());
        assert!(g.lookup("xyz").is_err());
        assert_eq!(
            g.lookup("Xy").map(|i| g.id(i).to_owned()),
            Ok("Xyz2".into())
        );
    }

    #[test]
    fn missing_parent_hints() {
        let errs = build(&[file("abcdef", &[]), file("b", &["abc"])]).unwrap_err();
        assert!(
            errs[0]
                .to_string()
                .ends_with("did you mean `abcdef`? `Revises` takes full ids")
        );
        let errs = build(&[
            file_with("a", &[], "-- Branch Labels: lbl"),
            file("b", &["lbl"]),
        ])
        .unwrap_err();
        assert!(errs[0].to_string().contains("is a branch label"));
    }

    #[test]
    fn labels_must_be_unique_and_not_ids() {
        let errs = build(&[
            file_with("a", &[], "-- Branch Labels: x"),
            file_with("b", &["a"], "-- Branch Labels: x, a"),
        ])
        .unwrap_err();
        assert_eq!(errs.len(), 2);
        assert!(matches!(
            errs[0],
            GraphError::LabelIsId { .. } | GraphError::DuplicateLabel { .. }
        ));
    }

    #[test]
    fn long_cycle_and_long_chain_do_not_overflow() {
        let n = 20_000;
        let mut files: Vec<RevisionFile> = (0..n)
            .map(|i| file(&format!("r{i}"), &[&format!("r{}", (i + 1) % n)]))
            .collect();
        let errs = build(&files).unwrap_err();
        match &errs[0] {
            GraphError::Cycle(m) => assert_eq!(m.len(), n),
            other => panic!("{other}"),
        }
        files[n - 1] = file(&format!("r{}", n - 1), &[]);
        let (g, _) = build(&files).unwrap();
        assert_eq!(g.heads().len(), 1);
        assert_eq!(g.id(0), format!("r{}", n - 1));
    }

    #[test]
    fn depends_on_orders_and_closes() {
        let files = vec![
            file("a", &[]),
            file_with("x", &[], "-- Branch Labels: other"),
            file_with("b", &["a"], "-- Depends On: other"),
        ];
        let (g, _) = build(&files).unwrap();
        let b = g.find("b").unwrap();
        let x = g.find("x").unwrap();
        assert!(x < b);
        let anc = g.ancestors_with_dependencies([b]);
        assert!(anc[x]);
        assert_eq!(g.dependents(x), [b]);
        // x is a head: nobody revises it.
        assert_eq!(ids(&g, g.heads()), ["x", "b"]);
    }

    #[test]
    fn one_head_rule_and_labels() {
        let member = |g: &Graph| {
            let g = g.clone();
            move |i: usize| Member {
                id: g.id(i).to_owned(),
                path: format!("m/{}.sql", g.id(i)),
                line: 2,
            }
        };
        let (g, _) = build(&[file("a", &[]), file("b", &["a"]), file("c", &["a"])]).unwrap();
        let err = check_heads(&g, member(&g)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "m/b.sql:2: the revision graph has 2 heads: b (m/b.sql), c (m/c.sql); merge them with \
             `revchain merge -m \"merge heads\" heads`, or give each extra branch a `Branch Labels` line"
        );
        let (g, _) = build(&[
            file("a", &[]),
            file("b", &["a"]),
            file_with("c", &["a"], "-- Branch Labels: feature"),
            file("d", &["c"]),
        ])
        .unwrap();
        assert!(check_heads(&g, member(&g)).is_ok());
        // A label on the shared ancestor does not make either head labelled.
        let (g, _) = build(&[
            file_with("a", &[], "-- Branch Labels: shared"),
            file("b", &["a"]),
            file("c", &["a"]),
        ])
        .unwrap();
        assert!(check_heads(&g, member(&g)).is_err());
    }

    #[test]
    fn from_nodes_rejects_bad_tables() {
        let node = |id: &str, parents: Vec<usize>| Node {
            id: id.into(),
            parents,
            depends_on: vec![],
            branch_labels: vec![],
            reversible: true,
        };
        assert!(Graph::from_nodes(vec![node("a", vec![1]), node("b", vec![])]).is_err());
        assert!(Graph::from_nodes(vec![node("a", vec![]), node("a", vec![])]).is_err());
        assert!(Graph::from_nodes(vec![node("a", vec![]), node("b", vec![0])]).is_ok());
    }
}
