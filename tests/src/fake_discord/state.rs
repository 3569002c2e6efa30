//! What the fake's Discord knows: the guilds the bot is in, their channels and threads, the
//! messages in them, the roles and channel overwrites that make up the bot's permissions, and
//! members who accept no direct messages. REST answers are decided against it, the way Discord
//! decides them.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::Value;

use super::payloads::{
    BOT_ID, BOT_ROLE, GUILD_ID, MOD_ROLE, OTHER_CHANNEL, OWNER_ID, STAFF_CHANNEL, SUPPORT_CHANNEL,
};

/// Discord's permission bits the bot's work needs.
pub mod perm {
    pub const ADMINISTRATOR: u64 = 1 << 3;
    pub const VIEW_CHANNEL: u64 = 1 << 10;
    pub const SEND_MESSAGES: u64 = 1 << 11;
    pub const MANAGE_MESSAGES: u64 = 1 << 13;
    pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
    pub const CREATE_PUBLIC_THREADS: u64 = 1 << 35;
    pub const SEND_MESSAGES_IN_THREADS: u64 = 1 << 38;
    pub const MANAGE_THREADS: u64 = 1 << 34;
    pub const MODERATE_MEMBERS: u64 = 1 << 40;
}

/// What @everyone may do in the test guild: view, send, read history, open public threads and
/// talk in them.
pub const EVERYONE_PERMISSIONS: u64 = perm::VIEW_CHANNEL
    | perm::SEND_MESSAGES
    | perm::READ_MESSAGE_HISTORY
    | perm::CREATE_PUBLIC_THREADS
    | perm::SEND_MESSAGES_IN_THREADS;
/// What the moderators' role adds: they tidy up and answer members.
pub const MOD_ROLE_PERMISSIONS: u64 = perm::MANAGE_MESSAGES;
/// What the bot's own role adds, as an admin who wants moderation grants it.
pub const BOT_ROLE_PERMISSIONS: u64 =
    perm::MANAGE_MESSAGES | perm::MODERATE_MEMBERS | perm::MANAGE_THREADS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Text,
    /// A forum: members open posts (threads) in it; its tags are in `World::forum_tags`.
    Forum,
    Thread {
        parent: u64,
    },
    Dm {
        recipient: u64,
    },
}

/// A channel permission overwrite for a role or a member (Discord's `permission_overwrites`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Overwrite {
    pub id: u64,
    pub member: bool,
    pub allow: u64,
    pub deny: u64,
}

#[derive(Debug, Clone)]
pub(super) struct Channel {
    /// The guild it belongs to; `None` for a DM.
    pub guild: Option<u64>,
    pub kind: Kind,
    pub name: String,
    pub overwrites: Vec<Overwrite>,
}

/// Why Discord refuses a request, with the status and JSON code it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UnknownChannel,
    UnknownMessage,
    MissingPermissions,
    CannotMessageUser,
    ThreadExists,
    /// Editing a message someone else wrote.
    NotAuthor,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::UnknownChannel | Refusal::UnknownMessage => 404,
            Refusal::MissingPermissions | Refusal::CannotMessageUser | Refusal::NotAuthor => 403,
            Refusal::ThreadExists => 400,
        }
    }

    pub fn code(self) -> u64 {
        match self {
            Refusal::UnknownChannel => 10003,
            Refusal::UnknownMessage => 10008,
            Refusal::MissingPermissions => 50013,
            Refusal::CannotMessageUser => 50007,
            Refusal::ThreadExists => 160004,
            Refusal::NotAuthor => 50005,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::UnknownChannel => "Unknown Channel",
            Refusal::UnknownMessage => "Unknown Message",
            Refusal::MissingPermissions => "Missing Permissions",
            Refusal::CannotMessageUser => "Cannot send messages to this user",
            Refusal::ThreadExists => "A thread has already been created for this message",
            Refusal::NotAuthor => "Cannot edit a message authored by another user",
        }
    }
}

/// The bot's own role in `guild`: Discord makes one per guild for a bot it adds.
pub fn bot_role_of(guild: u64) -> u64 {
    if guild == GUILD_ID {
        BOT_ROLE
    } else {
        guild + 1
    }
}

/// The moderators' role in `guild`.
pub fn mod_role_of(guild: u64) -> u64 {
    if guild == GUILD_ID {
        MOD_ROLE
    } else {
        guild + 2
    }
}

pub(super) struct World {
    /// The guilds the bot is in: READY lists them, each gets a GUILD_CREATE.
    pub guilds: BTreeSet<u64>,
    pub everyone: u64,
    pub bot_role: u64,
    pub channels: HashMap<u64, Channel>,
    /// Message ID -> (channel, author).
    pub messages: HashMap<u64, (u64, u64)>,
    /// What the bot's messages show now: content and components, as last posted or edited.
    pub shown: HashMap<u64, (String, Value)>,
    /// Members whose privacy settings refuse DMs from this server's members.
    pub closed_dms: HashSet<u64>,
    /// A forum's tags: `(id, name)`.
    pub forum_tags: HashMap<u64, Vec<(u64, String)>>,
    /// The tags applied to a forum post.
    pub applied_tags: HashMap<u64, Vec<u64>>,
}

impl Default for World {
    fn default() -> Self {
        let text = |name: &str| Channel {
            guild: Some(GUILD_ID),
            kind: Kind::Text,
            name: name.to_string(),
            overwrites: Vec::new(),
        };
        World {
            guilds: BTreeSet::from([GUILD_ID]),
            everyone: EVERYONE_PERMISSIONS,
            bot_role: BOT_ROLE_PERMISSIONS,
            channels: HashMap::from([
                (SUPPORT_CHANNEL, text("support")),
                (OTHER_CHANNEL, text("general")),
                (STAFF_CHANNEL, text("staff-only-moderation-log")),
            ]),
            messages: HashMap::new(),
            shown: HashMap::new(),
            closed_dms: HashSet::new(),
            forum_tags: HashMap::new(),
            applied_tags: HashMap::new(),
        }
    }
}

impl World {
    /// The guild `channel` belongs to; the test guild for a channel the fake does not know.
    pub fn guild_of(&self, channel: u64) -> u64 {
        self.channels
            .get(&channel)
            .and_then(|c| c.guild)
            .unwrap_or(GUILD_ID)
    }

    /// The bot's permissions in `channel` (Discord's algorithm: @everyone, then the bot's
    /// roles, then channel overwrites for @everyone, the roles and the member; a thread takes
    /// its parent's), or `UnknownChannel`.
    pub fn bot_permissions(&self, channel: u64) -> Result<u64, Refusal> {
        let ch = self.channels.get(&channel).ok_or(Refusal::UnknownChannel)?;
        let target = match ch.kind {
            Kind::Dm { .. } => {
                return Ok(perm::VIEW_CHANNEL | perm::SEND_MESSAGES | perm::READ_MESSAGE_HISTORY);
            }
            Kind::Thread { parent } => self.channels.get(&parent).ok_or(Refusal::UnknownChannel)?,
            Kind::Text | Kind::Forum => ch,
        };
        let base = self.everyone | self.bot_role;
        if base & perm::ADMINISTRATOR != 0 {
            return Ok(u64::MAX);
        }
        let mut p = base;
        let mut apply = |filter: &dyn Fn(&Overwrite) -> bool| {
            let (allow, deny) = target
                .overwrites
                .iter()
                .filter(|o| filter(o))
                .fold((0, 0), |(a, d), o| (a | o.allow, d | o.deny));
            p = (p & !deny) | allow;
        };
        let guild = target.guild.unwrap_or(GUILD_ID);
        apply(&|o| !o.member && o.id == guild);
        apply(&|o| !o.member && o.id == bot_role_of(guild));
        apply(&|o| o.member && o.id == BOT_ID);
        if p & perm::VIEW_CHANNEL == 0 {
            return Ok(0);
        }
        Ok(p)
    }

    /// Whether the bot may do what needs `needed` in `channel`.
    pub fn require(&self, channel: u64, needed: u64) -> Result<(), Refusal> {
        let have = self.bot_permissions(channel)?;
        if have & needed == needed {
            Ok(())
        } else {
            Err(Refusal::MissingPermissions)
        }
    }

    /// Whether the bot may post in `channel`: Send Messages, or Send Messages in Threads in a
    /// thread; a DM to a member who refuses them fails only when posted.
    pub fn may_post(&self, channel: u64) -> Result<(), Refusal> {
        let ch = self.channels.get(&channel).ok_or(Refusal::UnknownChannel)?;
        match ch.kind {
            Kind::Dm { recipient } if self.closed_dms.contains(&recipient) => {
                Err(Refusal::CannotMessageUser)
            }
            Kind::Dm { .. } => Ok(()),
            Kind::Thread { .. } => {
                self.require(channel, perm::VIEW_CHANNEL | perm::SEND_MESSAGES_IN_THREADS)
            }
            Kind::Text => self.require(channel, perm::VIEW_CHANNEL | perm::SEND_MESSAGES),
            // Members open posts in a forum; nobody posts in the forum itself.
            Kind::Forum => Err(Refusal::MissingPermissions),
        }
    }

    /// The thread on `message` in `channel` may be started: the message exists there, has no
    /// thread yet (a message's thread takes its ID), and the bot may open public threads.
    pub fn may_start_thread(&self, channel: u64, message: u64) -> Result<(), Refusal> {
        self.require(
            channel,
            perm::VIEW_CHANNEL | perm::CREATE_PUBLIC_THREADS | perm::READ_MESSAGE_HISTORY,
        )?;
        match self.messages.get(&message) {
            Some((c, _)) if *c == channel => {}
            _ => return Err(Refusal::UnknownMessage),
        }
        if self.channels.contains_key(&message) {
            return Err(Refusal::ThreadExists);
        }
        Ok(())
    }

    pub fn add_thread(&mut self, parent: u64, message: u64, name: &str) {
        let guild = self.guild_of(parent);
        self.channels.insert(
            message,
            Channel {
                guild: Some(guild),
                kind: Kind::Thread { parent },
                name: name.to_string(),
                overwrites: Vec::new(),
            },
        );
    }

    /// A message may be deleted: it exists in `channel`, and is the bot's own or the bot has
    /// Manage Messages there.
    pub fn may_delete(&self, channel: u64, message: u64) -> Result<(), Refusal> {
        self.bot_permissions(channel)?;
        match self.messages.get(&message) {
            Some((c, author)) if *c == channel => {
                if *author == BOT_ID {
                    Ok(())
                } else {
                    self.require(channel, perm::VIEW_CHANNEL | perm::MANAGE_MESSAGES)
                }
            }
            _ => Err(Refusal::UnknownMessage),
        }
    }

    /// A message may be edited: it exists in `channel` and the bot wrote it (nobody edits
    /// another user's message, whatever their permissions).
    pub fn may_edit(&self, channel: u64, message: u64) -> Result<(), Refusal> {
        self.bot_permissions(channel)?;
        match self.messages.get(&message) {
            Some((c, author)) if *c == channel && *author == BOT_ID => Ok(()),
            Some((c, _)) if *c == channel => Err(Refusal::NotAuthor),
            _ => Err(Refusal::UnknownMessage),
        }
    }

    /// A member may be timed out: the bot has Moderate Members, and the member is not the
    /// guild's owner (whom nobody can time out).
    pub fn may_time_out(&self, user: u64) -> Result<(), Refusal> {
        let base = self.everyone | self.bot_role;
        let allowed = base & (perm::MODERATE_MEMBERS | perm::ADMINISTRATOR) != 0;
        if allowed && user != OWNER_ID {
            Ok(())
        } else {
            Err(Refusal::MissingPermissions)
        }
    }
}
