//! "Did you mean" suggestions: the nearest known name by edit distance.

/// The candidate nearest to `word`, if it is near enough to be a likely typo.
pub(crate) fn nearest<'a>(word: &str, candidates: &'a [String]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, c)| *d <= (c.chars().count().max(word.chars().count()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(current)
            };
            previous = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_only_near_names() {
        let names = vec!["address".to_owned(), "memory".to_owned(), "cpus".to_owned()];
        assert_eq!(nearest("adress", &names), Some("address"));
        assert_eq!(nearest("memroy", &names), Some("memory"));
        assert_eq!(nearest("colour", &names), None);
    }
}
