//! A long model reply shown while it is written: posted in the answer's thread once it has been
//! coming for a second, then edited as it grows, at most once per 1.5 s. `respond` finishes it:
//! the final edit carries the citations and buttons, or the early message is deleted when the
//! checked decision is not a reply. A reply written within the second is posted once, whole.

use chrono::{DateTime, Utc};
use store::{Conversation, StoreError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::{Delivery, DeliveryError, Inbound, Outbound, Pipeline, clean, split_for_discord};

/// How long a reply streams before it is shown: about when a wait starts to feel like one. A
/// reply done sooner is posted once, complete, as without streaming.
pub(super) const EARLY_AFTER: chrono::Duration = chrono::Duration::seconds(1);
/// The least time between two writes of one message: a steady pace that stays well inside
/// Discord's limit on edits per channel and does not flicker.
pub(super) const WRITE_EVERY: chrono::Duration = chrono::Duration::milliseconds(1500);

/// At most one write of a message per period.
#[derive(Debug, Clone, Copy)]
pub(super) struct Throttle {
    every: chrono::Duration,
    last: Option<DateTime<Utc>>,
}

impl Throttle {
    pub(super) fn new(every: chrono::Duration) -> Self {
        Throttle { every, last: None }
    }

    /// When the next write may go: `now` if it may go at once.
    pub(super) fn next_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.last.map_or(now, |last| (last + self.every).max(now))
    }

    pub(super) fn wrote(&mut self, at: DateTime<Utc>) {
        self.last = Some(at);
    }
}

/// The message a streamed reply was posted as.
#[derive(Debug, Clone)]
pub(super) struct Shown {
    pub thread_id: u64,
    pub message_id: u64,
    /// When the member first saw the answer.
    pub posted_at: DateTime<Utc>,
    pub throttle: Throttle,
    /// The text it shows now.
    text: String,
}

/// What a member sees of a reply still being written: the text up to its last whitespace (a
/// word being written, such as the first half of a secret or of a link, is never shown),
/// cleaned like any answer, and only the first Discord-sized part. `None` while there is no
/// whole word yet.
pub(super) fn interim(text: &str) -> Option<Outbound> {
    let end = text.rfind(char::is_whitespace)?;
    let words = text[..end].trim_end();
    if words.is_empty() {
        return None;
    }
    let first = split_for_discord(&clean(words)).swap_remove(0);
    Some(Outbound {
        parts: vec![first],
        ..Outbound::default()
    })
}

impl Pipeline {
    /// Shows a reply while the agent writes it: `snapshots` carries its text so far. Returns the
    /// early message, if one was posted, once `finished` is cancelled; a write under way is
    /// never cut off. A failure to post stops the showing, and `respond` delivers as usual.
    pub(super) async fn show_progress<D: Delivery>(
        &self,
        inbound: &Inbound,
        conversation: &Conversation,
        mut snapshots: watch::Receiver<String>,
        finished: &CancellationToken,
        delivery: &D,
    ) -> Option<Shown> {
        let mut shown: Option<Shown> = None;
        let mut began = None;
        loop {
            tokio::select! {
                changed = snapshots.changed() => if changed.is_err() { return shown; },
                () = finished.cancelled() => return shown,
            }
            let began = *began.get_or_insert_with(|| self.clock.now());
            let due = match &shown {
                None => began + EARLY_AFTER,
                Some(s) => s.throttle.next_at(self.clock.now()),
            };
            tokio::select! {
                () = self.clock.sleep_until(due) => {}
                () = finished.cancelled() => return shown,
            }
            let text = snapshots.borrow_and_update().clone();
            let Some(message) = interim(&text) else {
                continue;
            };
            match shown.as_mut() {
                None => {
                    let posted = self
                        .post_early(inbound, conversation, &message, delivery)
                        .await?;
                    shown = Some(posted);
                }
                Some(s) if s.text == message.parts[0] => {}
                Some(s) => {
                    if let Err(e) = delivery.edit(s.thread_id, s.message_id, &message).await {
                        warn!(guild_id = inbound.guild_id, thread_id = s.thread_id, error = %e, "could not edit the streamed answer");
                        return shown;
                    }
                    s.throttle.wrote(self.clock.now());
                    s.text = message.parts[0].clone();
                }
            }
        }
    }

    /// The first sight of the reply, in the answer's thread (opened now if need be).
    async fn post_early<D: Delivery>(
        &self,
        inbound: &Inbound,
        conversation: &Conversation,
        message: &Outbound,
        delivery: &D,
    ) -> Option<Shown> {
        let thread = match conversation.thread_id {
            Some(id) => Ok(Ok(id as u64)),
            None => self.open_thread(inbound, conversation.id, delivery).await,
        };
        let thread_id = match thread {
            Ok(Ok(id)) => id,
            Ok(Err(e)) => {
                warn!(guild_id = inbound.guild_id, error = %e, "could not start a thread for the streamed answer");
                return None;
            }
            Err(e) => {
                warn!(guild_id = inbound.guild_id, error = %e, "could not store the answer's thread");
                return None;
            }
        };
        let ids = match delivery.post(thread_id, message).await {
            Ok(ids) => ids,
            Err(e) => {
                warn!(guild_id = inbound.guild_id, thread_id, error = %e, "could not post the streamed answer");
                return None;
            }
        };
        let now = self.clock.now();
        let mut throttle = Throttle::new(WRITE_EVERY);
        throttle.wrote(now);
        Some(Shown {
            thread_id,
            message_id: *ids.first()?,
            posted_at: now,
            throttle,
            text: message.parts[0].clone(),
        })
    }

    /// The final answer in place of the streamed one: its first part edited into the early
    /// message (with the buttons when it is the only part), the rest posted after, each write
    /// keeping the pace. An edit that fails (the message was deleted meanwhile) is replaced by
    /// posting the whole answer. Returns the IDs of the answer's parts.
    pub(super) async fn finish_streamed<D: Delivery>(
        &self,
        early: &Shown,
        message: &Outbound,
        delivery: &D,
    ) -> Result<Vec<u64>, DeliveryError> {
        self.clock
            .sleep_until(early.throttle.next_at(self.clock.now()))
            .await;
        let (first, rest) = message
            .parts
            .split_first()
            .expect("an answer has at least one part");
        let head = Outbound {
            parts: vec![first.clone()],
            buttons: if rest.is_empty() {
                message.buttons.clone()
            } else {
                Vec::new()
            },
            ..Outbound::default()
        };
        if let Err(e) = delivery
            .edit(early.thread_id, early.message_id, &head)
            .await
        {
            warn!(thread_id = early.thread_id, error = %e, "could not finish the streamed answer in place; posting it");
            self.withdraw(early, delivery).await;
            return delivery.post(early.thread_id, message).await;
        }
        let mut ids = vec![early.message_id];
        if !rest.is_empty() {
            let tail = Outbound {
                parts: rest.to_vec(),
                ..message.clone()
            };
            ids.extend(delivery.post(early.thread_id, &tail).await?);
        }
        Ok(ids)
    }

    /// Takes back a streamed reply the checked decision did not keep.
    pub(super) async fn withdraw<D: Delivery>(&self, early: &Shown, delivery: &D) {
        if let Err(e) = delivery
            .delete_message(early.thread_id, early.message_id)
            .await
        {
            warn!(thread_id = early.thread_id, error = %e, "could not delete the streamed answer");
        }
    }

    /// The thread a conversation's answers go in: the thread the question was asked in, or a
    /// new one on the question (the one a member opened first, when Discord says there is one).
    /// Stored with the conversation.
    pub(super) async fn open_thread<D: Delivery>(
        &self,
        inbound: &Inbound,
        conversation_id: i64,
        delivery: &D,
    ) -> Result<Result<u64, DeliveryError>, StoreError> {
        let thread = if inbound.parent_channel_id.is_some() {
            // Already inside a thread: threads cannot nest, answer where asked.
            Ok(inbound.channel_id)
        } else {
            delivery
                .start_thread(
                    inbound.channel_id,
                    inbound.message_id,
                    &super::thread_name(&inbound.content),
                )
                .await
        };
        let id = match thread {
            Ok(id) => id,
            // A member (or a moderator) opened a thread on the question first: a message's
            // thread has the message's ID, so the answer goes there.
            Err(DeliveryError::ThreadExists) => inbound.message_id,
            Err(e) => return Ok(Err(e)),
        };
        self.store
            .set_conversation_thread(
                inbound.guild_id as i64,
                conversation_id,
                id as i64,
                self.clock.now(),
            )
            .await?;
        Ok(Ok(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_keep_at_least_the_period_apart() {
        let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let ms = chrono::Duration::milliseconds;
        let mut throttle = Throttle::new(WRITE_EVERY);
        assert_eq!(throttle.next_at(t0), t0, "the first write goes at once");
        throttle.wrote(t0);
        assert_eq!(throttle.next_at(t0 + ms(200)), t0 + ms(1500));
        assert_eq!(throttle.next_at(t0 + ms(4000)), t0 + ms(4000));
        throttle.wrote(t0 + ms(4000));
        assert_eq!(throttle.next_at(t0 + ms(4001)), t0 + ms(5500));
    }

    #[test]
    fn interim_text_stops_at_the_last_whole_word_and_is_cleaned() {
        assert_eq!(interim("Open"), None, "no whole word yet");
        let token = format!(
            "{}.{}.{}",
            "MTA4NjQ2NzA1NjI4MjQ4OTA4Ng", "GxYzAb", "abcdefghijklmnopqrstuvwxyz0123456789AB"
        );
        let half = &token[..30];
        let shown = interim(&format!("@everyone see https://docs.example/a then {half}"))
            .unwrap()
            .joined();
        assert!(!shown.contains("@everyone"), "{shown}");
        assert!(shown.contains("<https://docs.example/a>"), "{shown}");
        assert!(
            shown.ends_with("then"),
            "the half-written word waits: {shown}"
        );
        let whole = interim(&format!("Mine was {token} and more"))
            .unwrap()
            .joined();
        assert!(
            !whole.contains(&token) && whole.contains("[redacted]"),
            "{whole}"
        );
    }

    #[test]
    fn a_long_interim_text_shows_its_first_part_only() {
        let paragraph = "word ".repeat(300);
        let text = format!("{paragraph}\n\n{paragraph}\n\n{paragraph}more");
        let message = interim(&text).unwrap();
        assert_eq!(message.parts.len(), 1);
        assert!(message.parts[0].chars().count() <= super::super::MESSAGE_LIMIT);
    }
}
