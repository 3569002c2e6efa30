//! Exports, as JSON-ready values: everything about one member of a guild, or everything a guild
//! has. Each field is named after the table it comes from, so a reader (and the test that
//! compares the export with the schema) can tell nothing was left out.

use chrono::{DateTime, Utc};

use crate::{
    AuditEntry, ChannelSetting, Conversation, FeedbackRecord, Guild, KnowledgeSource, Result,
    Store, StoredMessage, StoredSecret, StoredTrace,
};

/// Every row about one member of one guild.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MemberExport {
    pub guild_id: i64,
    pub member_id: i64,
    pub exported_at: DateTime<Utc>,
    /// Conversations the member started.
    pub conversations: Vec<Conversation>,
    /// The member's messages, and the bot's replies in the member's conversations.
    pub messages: Vec<StoredMessage>,
    /// How the bot decided its answers to the member.
    pub traces: Vec<StoredTrace>,
    pub feedback: Vec<FeedbackRecord>,
    /// Moderation verdicts on the member's messages.
    pub audit_log: Vec<AuditEntry>,
    /// Channel settings the member changed last.
    pub channel_settings: Vec<ChannelSetting>,
}

/// Every row a guild has, table by table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GuildExport {
    pub guild_id: i64,
    pub exported_at: DateTime<Utc>,
    /// The guild's row: its settings, when the bot joined and left.
    pub guilds: Vec<Guild>,
    pub channel_settings: Vec<ChannelSetting>,
    pub conversations: Vec<Conversation>,
    pub messages: Vec<StoredMessage>,
    pub traces: Vec<StoredTrace>,
    pub feedback: Vec<FeedbackRecord>,
    pub audit_log: Vec<AuditEntry>,
    pub knowledge_sources: Vec<KnowledgeSource>,
    /// That the guild set a secret, and when; never its value.
    pub guild_secrets: Vec<StoredSecret>,
}

impl Store {
    pub async fn export_member(
        &self,
        guild_id: i64,
        member_id: i64,
        now: DateTime<Utc>,
    ) -> Result<MemberExport> {
        let member = Some(member_id);
        Ok(MemberExport {
            guild_id,
            member_id,
            exported_at: now,
            conversations: self.export_conversations(guild_id, member).await?,
            messages: self.export_messages(guild_id, member).await?,
            traces: self.export_traces(guild_id, member).await?,
            feedback: self.export_feedback(guild_id, member).await?,
            audit_log: self.export_audit(guild_id, member).await?,
            channel_settings: self.export_channel_settings(guild_id, member).await?,
        })
    }

    pub async fn export_guild(&self, guild_id: i64, now: DateTime<Utc>) -> Result<GuildExport> {
        Ok(GuildExport {
            guild_id,
            exported_at: now,
            guilds: self.guild(guild_id).await?.into_iter().collect(),
            channel_settings: self.export_channel_settings(guild_id, None).await?,
            conversations: self.export_conversations(guild_id, None).await?,
            messages: self.export_messages(guild_id, None).await?,
            traces: self.export_traces(guild_id, None).await?,
            feedback: self.export_feedback(guild_id, None).await?,
            audit_log: self.export_audit(guild_id, None).await?,
            knowledge_sources: self.knowledge_sources(guild_id).await?,
            guild_secrets: self.guild_secrets(guild_id).await?,
        })
    }
}
