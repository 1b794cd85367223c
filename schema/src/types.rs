//! Whether a change of column type keeps every value (widening) or may not.

/// How a type change treats existing values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeChange {
    /// Every old value fits the new type.
    Widening,
    /// The new type holds fewer values (shorter, smaller, less precise).
    Narrowing,
    /// Another kind of type: values must convert.
    Other,
}

/// A type reduced to a family and its arguments.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// Integer with its size rank (1 tinyint … 5 bigint) and signedness.
    Int(u8, bool),
    /// Bounded text (`varchar(n)`, `char(n)`).
    Chars(u64),
    /// Unbounded or large text, with a size rank (MySQL tinytext 1 … longtext 4; others 4).
    Text(u8),
    /// Exact numeric with precision and scale (`None`: unbounded).
    Decimal(Option<(u64, u64)>),
    /// Floating point with its byte size.
    Float(u8),
    /// A MySQL `enum(…)` or `set(…)` with its labels.
    Labels(Vec<String>),
    /// Anything else, as normalised text.
    Named(String),
}

/// The quoted labels of `enum('a','b')`.
fn labels(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut inside = false;
    let mut chars = args.chars().peekable();
    while let Some(c) = chars.next() {
        match (inside, c) {
            (false, '\'') => inside = true,
            (true, '\'') if chars.peek() == Some(&'\'') => {
                cur.push('\'');
                chars.next();
            }
            (true, '\'') => {
                inside = false;
                out.push(std::mem::take(&mut cur));
            }
            (true, c) => cur.push(c),
            (false, _) => {}
        }
    }
    out
}

fn shape(t: &str) -> Shape {
    let lower = t.trim().to_ascii_lowercase();
    for kw in ["enum(", "set("] {
        if let Some(rest) = lower.strip_prefix(kw) {
            return Shape::Labels(labels(rest));
        }
    }
    let unsigned = lower.contains("unsigned");
    let base = lower
        .replace("unsigned", "")
        .replace("zerofill", "")
        .trim()
        .to_owned();
    let (name, args) = match base.find('(') {
        Some(open) => {
            let close = base.rfind(')').unwrap_or(base.len());
            let args: Vec<u64> = base
                .get(open + 1..close)
                .unwrap_or("")
                .split(',')
                .filter_map(|a| a.trim().parse().ok())
                .collect();
            let rest = base.get(close + 1..).unwrap_or("").trim().to_owned();
            let mut name = base[..open].trim().to_owned();
            if !rest.is_empty() {
                name = format!("{name} {rest}");
            }
            (name, args)
        }
        None => (base.clone(), Vec::new()),
    };
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    match name.as_str() {
        "tinyint" | "int1" => Shape::Int(1, unsigned),
        "smallint" | "int2" | "smallserial" => Shape::Int(2, unsigned),
        "mediumint" | "int3" => Shape::Int(3, unsigned),
        "int" | "integer" | "int4" | "serial" => Shape::Int(4, unsigned),
        "bigint" | "int8" | "bigserial" => Shape::Int(5, unsigned),
        "character varying" | "varchar" | "nvarchar" | "varying character" => match args.first() {
            Some(&n) => Shape::Chars(n),
            None => Shape::Text(4),
        },
        "character" | "char" | "nchar" | "bpchar" => {
            Shape::Chars(args.first().copied().unwrap_or(1))
        }
        "tinytext" => Shape::Text(1),
        "text" | "clob" => Shape::Text(2),
        "mediumtext" => Shape::Text(3),
        "longtext" => Shape::Text(4),
        "numeric" | "decimal" | "dec" => match args.as_slice() {
            [] => Shape::Decimal(None),
            [p] => Shape::Decimal(Some((*p, 0))),
            [p, s, ..] => Shape::Decimal(Some((*p, *s))),
        },
        "real" | "float4" | "float" => Shape::Float(4),
        "double precision" | "double" | "float8" => Shape::Float(8),
        _ => Shape::Named(base),
    }
}

/// Decimal digits an integer of a rank needs.
fn int_digits(rank: u8) -> u64 {
    match rank {
        1 => 3,
        2 => 5,
        3 => 8,
        4 => 10,
        _ => 19,
    }
}

/// Classifies a change from type `from` to type `to`.
pub(crate) fn classify(from: &str, to: &str) -> TypeChange {
    use Shape::*;
    use TypeChange::*;
    match (shape(from), shape(to)) {
        (Int(a, ua), Int(b, ub)) => {
            let fits = match (ua, ub) {
                (false, false) | (true, true) => b >= a,
                // Negative values do not fit an unsigned type.
                (false, true) => false,
                (true, false) => b > a,
            };
            if fits { Widening } else { Narrowing }
        }
        (Chars(a), Chars(b)) => {
            if b >= a {
                Widening
            } else {
                Narrowing
            }
        }
        (Chars(_), Text(_)) => Widening,
        (Text(_), Chars(_)) => Narrowing,
        (Text(a), Text(b)) => {
            if b >= a {
                Widening
            } else {
                Narrowing
            }
        }
        (Decimal(a), Decimal(b)) => match (a, b) {
            (_, None) => Widening,
            (None, Some(_)) => Narrowing,
            (Some((p1, s1)), Some((p2, s2))) => {
                if s2 >= s1 && p2.saturating_sub(s2) >= p1.saturating_sub(s1) {
                    Widening
                } else {
                    Narrowing
                }
            }
        },
        (Int(r, _), Decimal(d)) => match d {
            None => Widening,
            Some((p, s)) if p.saturating_sub(s) >= int_digits(r) => Widening,
            Some(_) => Narrowing,
        },
        (Decimal(_) | Float(_), Int(..)) => Narrowing,
        (Float(a), Float(b)) => {
            if b >= a {
                Widening
            } else {
                Narrowing
            }
        }
        (Int(..) | Decimal(_), Float(_)) => Other,
        (Labels(a), Labels(b)) => {
            if a.iter().all(|l| b.contains(l)) {
                Widening
            } else {
                Narrowing
            }
        }
        (Int(..) | Decimal(_) | Float(_) | Named(_), Text(_)) => Other,
        (a, b) if a == b => Widening,
        _ => Other,
    }
}

#[cfg(test)]
mod tests {
    use super::TypeChange::*;
    use super::*;

    #[test]
    fn classifies_common_changes() {
        assert_eq!(
            classify("character varying(50)", "character varying(200)"),
            Widening
        );
        assert_eq!(classify("varchar(200)", "varchar(50)"), Narrowing);
        assert_eq!(classify("varchar(20)", "text"), Widening);
        assert_eq!(classify("text", "varchar(20)"), Narrowing);
        assert_eq!(classify("integer", "bigint"), Widening);
        assert_eq!(classify("int(11)", "bigint(20)"), Widening);
        assert_eq!(classify("bigint", "integer"), Narrowing);
        assert_eq!(classify("int(10) unsigned", "int(11)"), Narrowing);
        assert_eq!(classify("int(11)", "bigint(20) unsigned"), Narrowing);
        assert_eq!(classify("numeric(10,2)", "numeric(12,2)"), Widening);
        assert_eq!(classify("numeric(10,2)", "numeric(10,3)"), Narrowing);
        assert_eq!(classify("numeric(10,2)", "numeric"), Widening);
        assert_eq!(classify("integer", "numeric(12,0)"), Widening);
        assert_eq!(classify("text", "integer"), Other);
        assert_eq!(classify("integer", "text"), Other);
        assert_eq!(classify("real", "double precision"), Widening);
        assert_eq!(classify("tinytext", "mediumtext"), Widening);
        assert_eq!(classify("longtext", "text"), Narrowing);
        assert_eq!(classify("date", "timestamp"), Other);
        assert_eq!(classify("enum('a','b')", "enum('a','b','it''s')"), Widening);
        assert_eq!(classify("enum('a','b')", "enum('a')"), Narrowing);
    }
}
