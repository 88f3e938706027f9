//! "Did you mean": the known word closest to a mistyped one (`prxy` is
//! `proxy`, `--origni` is `--origin`), by counting the edits between them.
//! Pure functions of strings; not here: which words are known (see
//! [`super::args::mistake`], which asks argh).

/// The edits that turn `typed` into `known`: a character inserted, deleted
/// or replaced, or two neighbours swapped, each counting one (the "optimal
/// string alignment" distance). The swap is the commonest slip of the
/// fingers, so `--origni` is one edit from `--origin`, not two.
pub fn edit_distance(typed: &str, known: &str) -> usize {
    let (typed, known): (Vec<char>, Vec<char>) = (typed.chars().collect(), known.chars().collect());
    // `rows[i][j]`: the edits from the first `i` characters of `typed` to
    // the first `j` of `known`. Row 0 and column 0 are all insertions or
    // all deletions.
    let mut rows = vec![vec![0; known.len() + 1]; typed.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=typed.len() {
        for j in 1..=known.len() {
            let replace = usize::from(typed[i - 1] != known[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + replace);
            let swapped =
                i > 1 && j > 1 && typed[i - 1] == known[j - 2] && typed[i - 2] == known[j - 1];
            if swapped {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[typed.len()][known.len()]
}

/// The word in `known` closest to `typed`, if it is close enough to be
/// what was meant: at most one edit in three characters typed (and at
/// least one allowed), so `prxy` finds `proxy` but `ls` never finds `purge`.
pub fn closest<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let allowed = (typed.chars().count() / 3).max(1);
    known
        .into_iter()
        .map(|word| (edit_distance(typed, word), word))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, word)| word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_are_counted_one_each() {
        let table = [
            ("proxy", "proxy", 0),
            ("prxy", "proxy", 1),
            ("proxyy", "proxy", 1),
            ("pruxy", "proxy", 1),
            ("--origni", "--origin", 1),
            ("", "ls", 2),
            ("ls", "", 2),
            ("purge", "ls", 5),
        ];
        for (typed, known, edits) in table {
            assert_eq!(edit_distance(typed, known), edits, "{typed} -> {known}");
        }
    }

    #[test]
    fn only_a_near_word_is_suggested() {
        let commands = ["proxy", "origin", "ls", "purge", "explain"];
        assert_eq!(closest("prxy", commands), Some("proxy"));
        assert_eq!(closest("purg", commands), Some("purge"));
        assert_eq!(closest("lss", commands), Some("ls"));
        assert_eq!(closest("nope", commands), None);
        assert_eq!(closest("x", commands), None);
        let flags = ["--origin", "--origin-timeout", "--port"];
        assert_eq!(closest("--origni", flags), Some("--origin"));
        assert_eq!(closest("--prot", flags), Some("--port"));
        assert_eq!(closest("--verbose", flags), None);
    }
}
