//! A `Delivery` that posts nowhere and remembers everything: the terminal commands print from
//! it, and pipeline tests assert on it without the fake Discord.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use super::{Delivery, DeliveryError, Outbound, PostTag};

/// One message the pipeline posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub channel_id: u64,
    pub message: Outbound,
    pub ids: Vec<u64>,
}

/// One edit of a message the pipeline posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub channel_id: u64,
    pub message_id: u64,
    pub message: Outbound,
}

#[derive(Debug, Default)]
struct Log {
    posts: Vec<Posted>,
    edits: Vec<Edited>,
    threads: Vec<(u64, u64, String, u64)>,
    typing: Vec<u64>,
    deleted: Vec<(u64, u64)>,
    dms: Vec<(u64, String)>,
    timeouts: Vec<(u64, u64, DateTime<Utc>)>,
    tags: Vec<(u64, PostTag)>,
}

pub struct RecordingDelivery {
    bot_user_id: u64,
    next_id: AtomicU64,
    fail_posts: AtomicBool,
    log: Mutex<Log>,
}

impl RecordingDelivery {
    /// IDs it hands out start at `first_id`, so they cannot collide with the caller's.
    pub fn new(bot_user_id: u64, first_id: u64) -> Self {
        Self {
            bot_user_id,
            next_id: AtomicU64::new(first_id),
            fail_posts: AtomicBool::new(false),
            log: Mutex::new(Log::default()),
        }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::SeqCst)
    }

    /// Makes every later post fail as Discord does without Send Messages.
    pub fn fail_posts(&self, fail: bool) {
        self.fail_posts.store(fail, Ordering::SeqCst);
    }

    pub fn posts(&self) -> Vec<Posted> {
        self.log().posts.clone()
    }

    /// Posts since the first `from` (for reading one turn's output).
    pub fn posts_since(&self, from: usize) -> Vec<Posted> {
        self.log().posts.iter().skip(from).cloned().collect()
    }

    pub fn post_count(&self) -> usize {
        self.log().posts.len()
    }

    pub fn edits(&self) -> Vec<Edited> {
        self.log().edits.clone()
    }

    /// `(channel, message, name, thread)` for each thread started.
    pub fn threads(&self) -> Vec<(u64, u64, String, u64)> {
        self.log().threads.clone()
    }

    pub fn typing(&self) -> Vec<u64> {
        self.log().typing.clone()
    }

    pub fn deleted(&self) -> Vec<(u64, u64)> {
        self.log().deleted.clone()
    }

    pub fn dms(&self) -> Vec<(u64, String)> {
        self.log().dms.clone()
    }

    /// `(post, tag)` for each forum tag asked for.
    pub fn tags(&self) -> Vec<(u64, PostTag)> {
        self.log().tags.clone()
    }
}

impl Delivery for RecordingDelivery {
    fn bot_user_id(&self) -> u64 {
        self.bot_user_id
    }

    async fn start_thread(
        &self,
        channel_id: u64,
        message_id: u64,
        name: &str,
    ) -> Result<u64, DeliveryError> {
        let id = self.id();
        self.log()
            .threads
            .push((channel_id, message_id, name.to_string(), id));
        Ok(id)
    }

    async fn post(&self, channel_id: u64, message: &Outbound) -> Result<Vec<u64>, DeliveryError> {
        if self.fail_posts.load(Ordering::SeqCst) {
            return Err(DeliveryError::Forbidden("Missing Permissions".into()));
        }
        let ids: Vec<u64> = message.parts.iter().map(|_| self.id()).collect();
        self.log().posts.push(Posted {
            channel_id,
            message: message.clone(),
            ids: ids.clone(),
        });
        Ok(ids)
    }

    async fn edit(
        &self,
        channel_id: u64,
        message_id: u64,
        message: &Outbound,
    ) -> Result<(), DeliveryError> {
        if self.fail_posts.load(Ordering::SeqCst) {
            return Err(DeliveryError::Forbidden("Missing Permissions".into()));
        }
        self.log().edits.push(Edited {
            channel_id,
            message_id,
            message: message.clone(),
        });
        Ok(())
    }

    async fn typing(&self, channel_id: u64) -> Result<(), DeliveryError> {
        self.log().typing.push(channel_id);
        Ok(())
    }

    async fn delete_message(&self, channel_id: u64, message_id: u64) -> Result<(), DeliveryError> {
        self.log().deleted.push((channel_id, message_id));
        Ok(())
    }

    async fn send_dm(&self, user_id: u64, text: &str) -> Result<(), DeliveryError> {
        self.log().dms.push((user_id, text.to_string()));
        Ok(())
    }

    async fn timeout_member(
        &self,
        guild_id: u64,
        user_id: u64,
        until: DateTime<Utc>,
    ) -> Result<(), DeliveryError> {
        self.log().timeouts.push((guild_id, user_id, until));
        Ok(())
    }

    async fn tag_post(&self, post_id: u64, tag: PostTag) -> Result<(), DeliveryError> {
        self.log().tags.push((post_id, tag));
        Ok(())
    }
}
