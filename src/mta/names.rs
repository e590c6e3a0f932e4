//! Names of receivers, domains and destinations, all in one string: a million generated
//! receivers would otherwise cost a heap allocation (and 24 bytes of `String`) per name,
//! three times over.

use std::ops::Index;

/// A list of names stored end to end.
#[derive(Debug, Clone, Default)]
pub struct Names {
    text: String,
    /// Where each name ends in `text`.
    ends: Vec<u32>,
}

impl Names {
    pub fn push(&mut self, name: &str) {
        self.text.push_str(name);
        self.ends
            .push(u32::try_from(self.text.len()).expect("names fit in 4 GiB"));
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| &self[i])
    }
}

impl Index<usize> for Names {
    type Output = str;

    fn index(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_back_as_pushed_including_empty_ones() {
        let mut names = Names::default();
        for name in ["gmail", "", "gen-000001", "ü"] {
            names.push(name);
        }
        assert_eq!(names.len(), 4);
        assert_eq!(
            names.iter().collect::<Vec<_>>(),
            ["gmail", "", "gen-000001", "ü"]
        );
        assert_eq!(&names[2], "gen-000001");
    }
}
