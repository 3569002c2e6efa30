//! What the fake says about its world: realistic IDs and names, and the gateway and REST payloads
//! built from them. Every dispatch is first deserialized into serenity's own event type, so a
//! payload serenity would silently drop fails the test instead.

use std::net::SocketAddr;

use serde_json::{Value, json};

use super::state::{Channel, Kind, MOD_ROLE_PERMISSIONS, World, bot_role_of, mod_role_of};
use serenity::model::event::{
    GuildCreateEvent, InteractionCreateEvent, MessageCreateEvent, MessageDeleteBulkEvent,
    MessageDeleteEvent, MessageUpdateEvent, ReadyEvent, ThreadCreateEvent, ThreadUpdateEvent,
};

// Real snowflakes: 19 digits for anything made since 2022, 18 for older accounts.
pub const BOT_ID: u64 = 1_187_463_215_648_771_094;
pub const GUILD_ID: u64 = 1_098_765_432_109_876_543;
pub const OWNER_ID: u64 = 284_102_937_650_393_088;
pub const SUPPORT_CHANNEL: u64 = 1_098_765_433_045_204_992;
pub const OTHER_CHANNEL: u64 = 1_098_765_433_045_204_993;
pub const STAFF_CHANNEL: u64 = 1_128_774_502_318_194_718;
pub const BOT_ROLE: u64 = 1_187_463_301_922_119_730;
/// The guild's moderators: Manage Messages, guild-wide.
pub const MOD_ROLE: u64 = 1_104_228_519_730_761_781;
const COMMAND_ID: u64 = 1_187_463_402_114_551_808;
/// Where the fake's own snowflakes (messages, threads, interactions) start: late 2024.
pub const FIRST_SNOWFLAKE: u64 = 1_314_159_265_358_979_323;
pub const TOKEN: &str = "fake.bot.token";
pub const TIMESTAMP: &str = "2024-01-01T00:00:00.000000+00:00";

/// Usernames (2–32 characters of `a-z0-9._`) and display names (up to 32 of anything) as people
/// pick them, the longest allowed among them.
const NAMES: &[(&str, &str)] = &[
    ("mira.kowalczyk", "Mira Kowalczyk"),
    (
        "sunflower.oracle.of.the.north_32",
        "🌻 Sunflower Oracle of the North",
    ),
    ("the_real_dev_account_2009", "Dev (not the real one) 🛠️"),
    ("jb", "J"),
    ("xx_nightcore_enjoyer_xx", "ナイトコア好きのエンジニア"),
    (
        "anastasia.vasilyevna.petrova",
        "Анастасия Васильевна Петрова",
    ),
];

/// The username and display name the fake gives a user.
pub fn names(user_id: u64) -> (&'static str, &'static str) {
    NAMES[(user_id % NAMES.len() as u64) as usize]
}

pub fn user(id: u64, bot: bool) -> Value {
    if id == BOT_ID {
        return bot_user();
    }
    let (username, display) = names(id);
    json!({
        "id": id.to_string(), "username": username, "global_name": display,
        "discriminator": "0", "avatar": "a_1f0c2b7d9e8a6c5b4d3e2f1a0b9c8d7e", "bot": bot,
        "public_flags": 64, "flags": 64, "primary_guild": null
    })
}

pub fn bot_user() -> Value {
    json!({
        "id": BOT_ID.to_string(), "username": "supportbot", "global_name": null,
        "discriminator": "4821", "avatar": null, "bot": true, "public_flags": 0, "flags": 0,
        "primary_guild": null, "mfa_enabled": true, "locale": "en-US"
    })
}

/// An interaction token of Discord's shape and length.
pub fn interaction_token(id: u64) -> String {
    let alphabet: Vec<char> = ('A'..='Z')
        .chain('a'..='z')
        .chain('0'..='9')
        .chain(['-', '_'])
        .collect();
    let mut state = id;
    let tail: String = (0..150)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            alphabet[(state >> 58) as usize % alphabet.len()]
        })
        .collect();
    format!("aW50ZXJhY3Rpb246{id}:{tail}")
}

pub fn interaction_base(
    id: u64,
    kind: u8,
    channel_id: u64,
    user_id: u64,
    permissions: u64,
) -> Value {
    let (_, display) = names(user_id);
    json!({
        "id": id.to_string(), "application_id": BOT_ID.to_string(), "type": kind,
        "token": interaction_token(id), "version": 1,
        "guild_id": GUILD_ID.to_string(), "channel_id": channel_id.to_string(),
        "member": {
            "user": user(user_id, false),
            "nick": format!("{display} | on call"),
            "roles": [], "joined_at": TIMESTAMP, "deaf": false, "mute": false, "flags": 0,
            "permissions": permissions.to_string()
        },
        "app_permissions": "309237722112",
        "channel": {"id": channel_id.to_string(), "type": 0, "name": "support"},
        "locale": "en-US", "entitlements": [], "attachment_size_limit": 8388608
    })
}

pub fn command_data(name: &str, options: Value) -> Value {
    json!({"id": COMMAND_ID.to_string(), "name": name, "type": 1, "options": options})
}

#[derive(Debug, Clone, Copy)]
pub enum Author {
    Member(u64),
    Bot(u64),
}

pub fn message_payload(
    id: u64,
    channel_id: u64,
    author: Author,
    content: &str,
    mentions: &[u64],
) -> Value {
    let (author_id, is_bot) = match author {
        Author::Member(id) => (id, false),
        Author::Bot(id) => (id, true),
    };
    let mentions: Vec<Value> = mentions.iter().map(|m| user(*m, *m == BOT_ID)).collect();
    json!({
        "id": id.to_string(), "channel_id": channel_id.to_string(), "guild_id": GUILD_ID.to_string(),
        "author": user(author_id, is_bot),
        "member": {"roles": [], "joined_at": TIMESTAMP, "deaf": false, "mute": false},
        "content": content, "timestamp": TIMESTAMP, "edited_timestamp": null,
        "tts": false, "mention_everyone": false, "mentions": mentions, "mention_roles": [],
        "attachments": [], "embeds": [], "components": [], "pinned": false, "type": 0, "flags": 0
    })
}

/// A message as the REST API returns it: what was posted, by the bot.
pub fn posted_message(id: u64, channel_id: u64, body: &Value) -> Value {
    let mut message = message_payload(
        id,
        channel_id,
        Author::Bot(BOT_ID),
        body["content"].as_str().unwrap_or(""),
        &[],
    );
    if let Some(obj) = message.as_object_mut() {
        obj.remove("member");
        obj.remove("guild_id");
    }
    message
}

pub fn check_dispatch(event: &str, d: &Value) {
    let result = match event {
        "READY" => serde_json::from_value::<ReadyEvent>(d.clone()).map(|_| ()),
        "GUILD_CREATE" => serde_json::from_value::<GuildCreateEvent>(d.clone()).map(|_| ()),
        "MESSAGE_CREATE" => serde_json::from_value::<MessageCreateEvent>(d.clone()).map(|_| ()),
        "MESSAGE_UPDATE" => serde_json::from_value::<MessageUpdateEvent>(d.clone()).map(|_| ()),
        "MESSAGE_DELETE" => serde_json::from_value::<MessageDeleteEvent>(d.clone()).map(|_| ()),
        "MESSAGE_DELETE_BULK" => {
            serde_json::from_value::<MessageDeleteBulkEvent>(d.clone()).map(|_| ())
        }
        "INTERACTION_CREATE" => {
            serde_json::from_value::<InteractionCreateEvent>(d.clone()).map(|_| ())
        }
        "THREAD_CREATE" => serde_json::from_value::<ThreadCreateEvent>(d.clone()).map(|_| ()),
        "THREAD_UPDATE" => serde_json::from_value::<ThreadUpdateEvent>(d.clone()).map(|_| ()),
        _ => Ok(()),
    };
    if let Err(e) = result {
        panic!("the fake built a {event} that serenity cannot parse: {e}\n{d:#}");
    }
}

/// Panics unless serenity can read `v` as a `T`: the fake's answers must be ones it accepts.
pub fn check<T: serde::de::DeserializeOwned>(what: &str, v: Value) -> Value {
    if let Err(e) = serde_json::from_value::<T>(v.clone()) {
        panic!("the fake built a {what} that serenity cannot parse: {e}\n{v:#}");
    }
    v
}

/// READY for one connection: the guilds on its shard (as unavailable, GUILD_CREATE follows),
/// and the shard itself when the client identified with one.
pub fn ready(session: &str, addr: SocketAddr, guilds: &[u64], shard: Option<[u32; 2]>) -> Value {
    let guilds: Vec<Value> = guilds
        .iter()
        .map(|g| json!({"id": g.to_string(), "unavailable": true}))
        .collect();
    let mut ready = json!({
        "v": 10, "user": bot_user(), "guilds": guilds,
        "session_id": session, "resume_gateway_url": format!("ws://{addr}/gateway"),
        "application": {"id": BOT_ID.to_string(), "flags": 0}
    });
    if let Some(shard) = shard {
        ready["shard"] = json!(shard);
    }
    ready
}

/// A public thread as Discord describes it.
pub fn thread(
    guild: u64,
    id: u64,
    parent: u64,
    owner: u64,
    name: &str,
    archive_minutes: u64,
) -> Value {
    check::<serenity::model::channel::GuildChannel>(
        "thread",
        json!({
            "id": id.to_string(), "type": 11, "guild_id": guild.to_string(),
            "parent_id": parent.to_string(), "owner_id": owner.to_string(),
            "name": name, "last_message_id": null, "rate_limit_per_user": 0,
            "message_count": 0, "member_count": 1, "total_message_sent": 0, "flags": 0,
            "thread_metadata": {
                "archived": false, "locked": false, "auto_archive_duration": archive_minutes,
                "archive_timestamp": TIMESTAMP, "create_timestamp": TIMESTAMP
            }
        }),
    )
}

/// A forum channel as Discord describes it, with its tags.
pub(super) fn forum_channel(world: &World, id: u64, name: &str, overwrites: Vec<Value>) -> Value {
    let tags: Vec<Value> = world
        .forum_tags
        .get(&id)
        .into_iter()
        .flatten()
        .map(|(tag, name)| {
            json!({"id": tag.to_string(), "name": name, "moderated": false,
                   "emoji_id": null, "emoji_name": null})
        })
        .collect();
    json!({
        "id": id.to_string(), "type": 15, "name": name, "guild_id": world.guild_of(id).to_string(),
        "permission_overwrites": overwrites, "available_tags": tags, "flags": 0,
        "default_reaction_emoji": null, "default_sort_order": null, "default_forum_layout": 0,
        "default_thread_rate_limit_per_user": 0, "rate_limit_per_user": 0, "topic": null,
        "nsfw": false, "position": 3, "parent_id": null, "last_message_id": null
    })
}

/// Guild names as communities pick them.
const GUILD_NAMES: &[&str] = &[
    "Pixel Forge Modding",
    "r/selfhosted — Homelab Help",
    "Lernen & Entwickeln 🇩🇪",
    "Nightcore Devs",
];

/// A guild as GUILD_CREATE describes it: its roles with their permissions and its text
/// channels with their permission overwrites, from the fake's world.
pub(super) fn guild(world: &World, id: u64) -> Value {
    let mut channels: Vec<(&u64, &Channel)> = world
        .channels
        .iter()
        .filter(|(_, c)| matches!(c.kind, Kind::Text | Kind::Forum) && c.guild == Some(id))
        .collect();
    channels.sort_by_key(|(id, _)| **id);
    let channels: Vec<Value> = channels
        .into_iter()
        .map(|(id, c)| {
            let overwrites: Vec<Value> = c
                .overwrites
                .iter()
                .map(|o| {
                    json!({
                        "id": o.id.to_string(), "type": u8::from(o.member),
                        "allow": o.allow.to_string(), "deny": o.deny.to_string()
                    })
                })
                .collect();
            if c.kind == Kind::Forum {
                forum_channel(world, *id, &c.name, overwrites)
            } else {
                json!({
                    "id": id.to_string(), "type": 0, "name": c.name,
                    "permission_overwrites": overwrites
                })
            }
        })
        .collect();
    let name = if id == GUILD_ID {
        "Acme Cloud — Community & Support"
    } else {
        GUILD_NAMES[(id % GUILD_NAMES.len() as u64) as usize]
    };
    let (bot_role, mod_role) = (bot_role_of(id), mod_role_of(id));
    json!({
        "id": id.to_string(), "name": name, "icon": null,
        "owner_id": OWNER_ID.to_string(),
        "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
        "roles": [
            {"id": id.to_string(), "name": "@everyone", "color": 0, "colors": {"primary_color": 0},
             "hoist": false, "managed": false, "permissions": world.everyone.to_string(), "position": 0},
            {"id": bot_role.to_string(), "name": "supportbot", "color": 0, "colors": {"primary_color": 0},
             "hoist": false, "managed": true, "permissions": world.bot_role.to_string(), "position": 1},
            {"id": mod_role.to_string(), "name": "moderators", "color": 0, "colors": {"primary_color": 0},
             "hoist": true, "managed": false, "permissions": MOD_ROLE_PERMISSIONS.to_string(), "position": 2}
        ],
        "emojis": [], "features": [], "mfa_level": 0, "system_channel_flags": 0, "premium_tier": 0,
        "preferred_locale": "en-US", "nsfw_level": 0, "stickers": [], "premium_progress_bar_enabled": false,
        "joined_at": TIMESTAMP, "large": false, "member_count": 2, "voice_states": [],
        "members": [{"user": bot_user(), "roles": [bot_role.to_string()], "joined_at": TIMESTAMP, "deaf": false, "mute": false, "flags": 0}],
        "channels": channels,
        "threads": [], "presences": [], "stage_instances": [], "guild_scheduled_events": []
    })
}
