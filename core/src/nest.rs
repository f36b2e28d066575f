//! [`Nest`]: the open containers of a JSON text being checked, a bit each, for the two syntax
//! checks ([`scan`](crate::scan) for pieces, [`syntax`](crate::syntax) for a whole text).

use alloc::vec::Vec;

/// The open containers: one bit each (1 for an object), the innermost at bit 0 of `bits`,
/// which holds the innermost 64 levels; deeper ones wait in `spill`, 64 to a word. Nothing is
/// allocated until a text nests deeper than 64.
#[derive(Debug, Clone, Default)]
pub(crate) struct Nest {
    depth: usize,
    bits: u64,
    spill: Vec<u64>,
}

impl Nest {
    /// How many containers are open.
    #[inline]
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// Opens a container (an object if `object`).
    #[inline]
    pub(crate) fn push(&mut self, object: bool) {
        if self.depth != 0 && self.depth % 64 == 0 {
            self.spill.push(self.bits);
            self.bits = 0;
        }
        self.bits = (self.bits << 1) | u64::from(object);
        self.depth += 1;
    }

    /// Closes the innermost container; none open is the caller's to refuse first.
    #[inline]
    pub(crate) fn pop(&mut self) {
        self.bits >>= 1;
        self.depth -= 1;
        if self.depth != 0 && self.depth % 64 == 0 {
            self.bits = self.spill.pop().unwrap_or(0);
        }
    }

    /// Whether the innermost open container is an object (`false` when none is open: every
    /// bit has been shifted out by then).
    #[inline]
    pub(crate) fn in_object(&self) -> bool {
        self.bits & 1 == 1
    }
}

#[cfg(test)]
mod tests {
    use super::Nest;

    /// Kinds read back in the order opened, across the 64-level words.
    #[test]
    fn containers_close_in_the_order_opened() {
        let kinds: alloc::vec::Vec<bool> = (0..300).map(|i| i % 3 == 0 || i % 7 == 1).collect();
        let mut nest = Nest::default();
        for &object in &kinds {
            nest.push(object);
            assert!(nest.in_object() == object);
        }
        for (n, &object) in kinds.iter().enumerate().rev() {
            assert_eq!(nest.depth(), n + 1);
            assert_eq!(nest.in_object(), object, "level {n}");
            nest.pop();
        }
        assert_eq!(nest.depth(), 0);
        assert!(!nest.in_object());
    }
}
