//! A bounded set of recently seen keys (oldest forgotten first).

use std::{
    collections::{HashSet, VecDeque},
    hash::Hash,
};

/// Remembers the last `capacity` distinct keys.
#[derive(Debug)]
pub(crate) struct Seen<K> {
    set: HashSet<K>,
    order: VecDeque<K>,
    capacity: usize,
}

impl<K: Hash + Eq + Copy> Seen<K> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            set: HashSet::with_capacity(capacity),
            order: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Inserts `key`; returns `false` if it was already present.
    pub(crate) fn insert(&mut self, key: K) -> bool {
        if !self.set.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }

    /// Forgets `key` (it may be inserted again).
    pub(crate) fn remove(&mut self, key: &K) {
        if self.set.remove(key) {
            self.order.retain(|k| k != key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_oldest_beyond_capacity() {
        let mut seen = Seen::new(2);
        assert!(seen.insert(1));
        assert!(!seen.insert(1));
        assert!(seen.insert(2));
        assert!(seen.insert(3));
        assert!(seen.insert(1), "1 was evicted");
        assert!(!seen.insert(3));
        seen.remove(&3);
        assert!(seen.insert(3));
    }
}
