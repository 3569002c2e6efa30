//! Recently handled message IDs. The gateway may deliver an event again (after a resume, for
//! instance); a second delivery must not be classified, audited or acted on twice.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

pub(super) struct Seen {
    capacity: usize,
    inner: Mutex<(HashSet<u64>, VecDeque<u64>)>,
}

impl Seen {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new((HashSet::new(), VecDeque::new())),
        }
    }

    /// True the first time an ID is offered; false for repeats still remembered.
    pub(super) fn first_time(&self, id: u64) -> bool {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (set, order) = &mut *guard;
        if !set.insert(id) {
            return false;
        }
        order.push_back(id);
        if order.len() > self.capacity
            && let Some(old) = order.pop_front()
        {
            set.remove(&old);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_caught_and_memory_stays_bounded() {
        let seen = Seen::new(3);
        assert!(seen.first_time(1));
        assert!(!seen.first_time(1));
        for id in 2..=4 {
            assert!(seen.first_time(id));
        }
        assert!(seen.first_time(1), "the oldest ID was forgotten");
        assert_eq!(seen.inner.lock().unwrap().0.len(), 3);
    }
}
