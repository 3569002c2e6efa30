//! `Delivery` over serenity's HTTP client. Goes straight to REST (no cache checks): Discord is
//! the authority on permissions, and its refusals come back as errors the pipeline records.

use std::sync::Arc;

use serenity::all::{AutoArchiveDuration, ChannelId, CreateMessage, CreateThread, Http, MessageId};

use crate::pipeline::{Delivery, DeliveryError};

#[derive(Clone)]
pub struct DiscordDelivery {
    pub http: Arc<Http>,
    pub bot_user_id: u64,
    pub archive_minutes: u16,
}

fn archive_duration(minutes: u16) -> AutoArchiveDuration {
    match minutes {
        60 => AutoArchiveDuration::OneHour,
        4320 => AutoArchiveDuration::ThreeDays,
        10080 => AutoArchiveDuration::OneWeek,
        _ => AutoArchiveDuration::OneDay,
    }
}

fn describe(e: serenity::Error) -> DeliveryError {
    // serenity's error text carries Discord's status and error code, never message content.
    DeliveryError(e.to_string())
}

impl Delivery for DiscordDelivery {
    fn bot_user_id(&self) -> u64 {
        self.bot_user_id
    }

    async fn start_thread(
        &self,
        channel_id: u64,
        message_id: u64,
        name: &str,
    ) -> Result<u64, DeliveryError> {
        let thread = ChannelId::new(channel_id)
            .create_thread_from_message(
                &*self.http,
                MessageId::new(message_id),
                CreateThread::new(name)
                    .auto_archive_duration(archive_duration(self.archive_minutes)),
            )
            .await
            .map_err(describe)?;
        Ok(thread.id.get())
    }

    async fn post(&self, channel_id: u64, text: &str) -> Result<u64, DeliveryError> {
        let message = ChannelId::new(channel_id)
            .send_message(&*self.http, CreateMessage::new().content(text))
            .await
            .map_err(describe)?;
        Ok(message.id.get())
    }
}
