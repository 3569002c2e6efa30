//! Human-first answering: who has spoken in each channel lately, so the bot can leave a
//! question to people for the channel's delay and stay out when one of them answers.

use std::collections::HashMap;
use std::sync::Mutex;

use super::Inbound;

/// Authors remembered per channel (each with their latest message): enough to tell whether
/// anyone but the asker spoke during a delay, however much the asker writes meanwhile.
const AUTHORS_PER_CHANNEL: usize = 16;

/// Channels remembered; past this the memory starts over (a delay in progress then answers).
const MAX_CHANNELS: usize = 100_000;

/// (author, their latest message ID) in one channel, most recent last.
type Authors = Vec<(u64, u64)>;

#[derive(Default)]
pub(super) struct Activity {
    /// Keyed by (guild, channel).
    channels: Mutex<HashMap<(u64, u64), Authors>>,
}

impl Activity {
    /// A member's message (not a bot's, not one the classifier dropped) in its channel.
    pub(super) fn record(&self, inbound: &Inbound) {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        let authors = channels
            .entry((inbound.guild_id, inbound.channel_id))
            .or_default();
        authors.retain(|(author, _)| *author != inbound.author_id);
        if authors.len() == AUTHORS_PER_CHANNEL {
            authors.remove(0);
        }
        authors.push((inbound.author_id, inbound.message_id));
    }

    /// Whether anyone but the asker has posted since `question`, in its channel or in a thread
    /// started on it (Discord gives such a thread the message's ID). Message IDs are
    /// snowflakes, ordered by time.
    pub(super) fn someone_else_spoke(&self, question: &Inbound) -> bool {
        let channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        [question.channel_id, question.message_id]
            .iter()
            .filter_map(|channel| channels.get(&(question.guild_id, *channel)))
            .flatten()
            .any(|(author, message)| {
                *author != question.author_id && *message > question.message_id
            })
    }

    pub(super) fn maintain(&self) {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if channels.len() > MAX_CHANNELS {
            channels.clear();
        }
    }
}
