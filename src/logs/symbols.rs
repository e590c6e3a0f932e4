//! An interner: each distinct string (domain, destination, relay host, reply) is stored once
//! and handed out as a four-byte [`Sym`], so outcomes stay small and `Copy` and a line that
//! repeats known strings allocates nothing.

use rustc_hash::FxHashMap;

/// A handle on an interned string; [`Sym::NONE`] is the empty string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Sym(u32);

impl Sym {
    /// The empty string: "not known" for a domain, destination, relay or reply.
    pub const NONE: Sym = Sym(0);

    /// Position in the table, for side tables indexed by symbol.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    pub fn is_none(self) -> bool {
        self == Sym::NONE
    }
}

/// The table behind [`Sym`]s.
#[derive(Debug)]
pub struct Symbols {
    texts: Vec<Box<str>>,
    index: FxHashMap<Box<str>, Sym>,
}

impl Default for Symbols {
    fn default() -> Self {
        let mut index = FxHashMap::default();
        index.insert(Box::from(""), Sym::NONE);
        Symbols {
            texts: vec![Box::from("")],
            index,
        }
    }
}

impl Symbols {
    /// The symbol of `text`, adding it on first sight.
    pub fn intern(&mut self, text: &str) -> Sym {
        if let Some(&sym) = self.index.get(text) {
            return sym;
        }
        let sym = Sym(self.texts.len() as u32);
        self.texts.push(Box::from(text));
        self.index.insert(Box::from(text), sym);
        sym
    }

    /// The symbol of `text` if it was interned.
    pub fn get(&self, text: &str) -> Option<Sym> {
        self.index.get(text).copied()
    }

    /// The text of a symbol.
    pub fn text(&self, sym: Sym) -> &str {
        &self.texts[sym.index()]
    }

    /// The symbol at position `index` (see [`Sym::index`]).
    pub fn nth(&self, index: usize) -> Sym {
        assert!(
            index < self.texts.len(),
            "symbol {index} of {}",
            self.texts.len()
        );
        Sym(index as u32)
    }

    /// Number of symbols, the empty string included.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.len() == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once() {
        let mut s = Symbols::default();
        assert_eq!(s.intern(""), Sym::NONE);
        let a = s.intern("gmail.com");
        let b = s.intern("yahoo.com");
        assert_eq!(s.intern("gmail.com"), a);
        assert_ne!(a, b);
        assert_eq!(s.text(b), "yahoo.com");
        assert_eq!(s.get("yahoo.com"), Some(b));
        assert_eq!(s.get("aol.com"), None);
        assert_eq!(s.len(), 3);
    }
}
