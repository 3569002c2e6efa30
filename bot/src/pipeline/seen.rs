//! Recently handled message IDs. The gateway may deliver an event again (after a resume, for
//! instance); a second delivery must not be classified, audited or acted on twice. Edits are
//! remembered by message and content: Discord also sends MESSAGE_UPDATE when only an embed or
//! a thread was added, and those are not new content.

use std::collections::{HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use super::{Inbound, InboundKind};

/// A message's ID with its content, as one key.
fn content_key(message_id: u64, content: &str) -> u64 {
    // `DefaultHasher::new` has fixed keys: the same text gives the same key in this process.
    let mut hasher = DefaultHasher::new();
    message_id.hash(&mut hasher);
    content.hash(&mut hasher);
    hasher.finish()
}

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

    /// True the first time a message is offered, and the first time an edit brings content the
    /// message has not had.
    pub(super) fn first_time_seen(&self, inbound: &Inbound) -> bool {
        let content = content_key(inbound.message_id, &inbound.content);
        match inbound.kind {
            InboundKind::New => {
                let first = self.first_time(inbound.message_id);
                self.first_time(content);
                first
            }
            InboundKind::Edit => self.first_time(content),
            // An interaction is delivered once; it never passes through here.
            InboundKind::Private => true,
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
