//! `/setup`: the guided first run through the real client against the fake Discord — the
//! server's choices saved, a guild's own LLM key taken through a form, sealed, used for its
//! answers and never shown back; admins only, and only this server's channels and roles.

use serde_json::{Value, json};
use store::MasterKey;
use tests::fake_discord::{
    Author, FakeDiscord, GUILD_ID, MOD_ROLE, OWNER_ID, STAFF_CHANNEL, SUPPORT_CHANNEL,
};
use tests::{RunningBot, TestDb};

use crate::e2e::{DOCS, MANAGE_GUILD, MEMBER, WAIT, reset_key_model, thread_for, with_models};
use crate::member_commands::{button_ids, content, private_text};

/// Base64 of 32 bytes of 7s.
const MASTER: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
const GUILD_KEY: &str = "sk-guild-own-key-4711";
/// Another admin of the test guild.
const OTHER_ADMIN: u64 = 1_021_554_872_993_447_937;

/// `/setup` with the options given, and what Discord resolved the channel and role to.
fn setup(fake: &FakeDiscord, options: Value, user: u64, permissions: u64) -> u64 {
    let resolved = json!({
        "channels": {STAFF_CHANNEL.to_string(): {
            "id": STAFF_CHANNEL.to_string(), "type": 0, "name": "staff", "permissions": "1024"
        }, "1187402263094960129": {
            "id": "1187402263094960129", "type": 0, "name": "elsewhere", "permissions": "1024"
        }},
        "roles": {MOD_ROLE.to_string(): {
            "id": MOD_ROLE.to_string(), "name": "moderators", "color": 0,
            "colors": {"primary_color": 0}, "hoist": true,
            "position": 2, "permissions": "8192", "managed": false, "mentionable": true,
            "flags": 0
        }}
    });
    fake.send_command_resolved(
        "setup",
        options,
        resolved,
        SUPPORT_CHANNEL,
        user,
        permissions,
    )
}

#[tokio::test]
async fn setup_saves_the_servers_choices_and_its_own_llm_key_which_answers_and_is_never_shown() {
    let model = reset_key_model().await;
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let models = with_models(&model, None);
    let bot = RunningBot::start_with(&fake, &db, DOCS, move |config| {
        models(config);
        config.llm.api_key = Some("instance-key".to_string().into());
        config.master_key = Some(MASTER.to_string().into());
    })
    .await;

    let asked = setup(
        &fake,
        json!([
            {"name": "staff_channel", "type": 7, "value": STAFF_CHANNEL.to_string()},
            {"name": "support_role", "type": 8, "value": MOD_ROLE.to_string()},
            {"name": "mode", "type": 4, "value": 2},
            {"name": "language", "type": 4, "value": 1},
        ]),
        OWNER_ID,
        MANAGE_GUILD,
    );
    let summary = private_text(&fake, asked).await;
    let text = content(&summary);
    assert!(
        text.contains(&format!("✅ Staff channel: <#{STAFF_CHANNEL}>")),
        "{text}"
    );
    assert!(
        text.contains(&format!("✅ Support role: <@&{MOD_ROLE}>")),
        "{text}"
    );
    assert!(text.contains("without a mention"), "{text}");
    assert!(text.contains("✅ Language: German"), "{text}");
    assert!(
        text.contains("✅ Knowledge: 1 sources") || text.contains("✅ Knowledge: 2 sources"),
        "{text}"
    );
    let ids = button_ids(&summary);
    assert_eq!(
        ids.len(),
        1,
        "only 'Set our own LLM key' while none is set: {summary}"
    );

    // The button opens a form; what is typed into it is sealed, not echoed.
    let click = fake.click_button(&ids[0], SUPPORT_CHANNEL, OWNER_ID, MANAGE_GUILD);
    let form = fake
        .wait_for_call("the key form", WAIT, |c| {
            c.path
                .starts_with(&format!("/api/v10/interactions/{click}/"))
        })
        .await;
    assert_eq!(form.body["type"], 9, "a modal: {}", form.body);
    let form_id = form.body["data"]["custom_id"].as_str().unwrap().to_string();
    let submitted = fake.submit_modal(
        &form_id,
        &[("key", &format!("  {GUILD_KEY} "))],
        SUPPORT_CHANNEL,
        OWNER_ID,
        MANAGE_GUILD,
    );
    let saved = private_text(&fake, submitted).await;
    assert!(content(&saved).contains("Saved"), "{saved}");

    let store = db.store().await;
    let master = MasterKey::from_base64(MASTER).unwrap();
    let sealed = store
        .guild_secret(GUILD_ID as i64, store::LLM_API_KEY, &master)
        .await
        .unwrap()
        .expect("the key is stored");
    assert_eq!(secrecy::ExposeSecret::expose_secret(&sealed), GUILD_KEY);
    let settings = store.guild_settings(GUILD_ID as i64).await.unwrap();
    assert_eq!(settings["language"], "de");
    assert_eq!(settings["staff_channel_id"], STAFF_CHANNEL);
    assert_eq!(settings["support_role_id"], MOD_ROLE);

    // The channel now answers without a mention, with the guild's own key.
    let question = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "how do I reset my API key?",
    );
    thread_for(&fake, question).await;
    let requests = model.wait_for_chat_requests(1, WAIT).await;
    let bearer = format!("Bearer {GUILD_KEY}");
    assert_eq!(requests[0].authorization(), Some(bearer.as_str()));

    // Run again: the key is reported as set, offered for replacement or removal, never shown.
    let again = setup(&fake, json!([]), OTHER_ADMIN, MANAGE_GUILD);
    let summary = private_text(&fake, again).await;
    assert!(
        content(&summary).contains("✅ LLM key: your own"),
        "{summary}"
    );
    assert_eq!(
        button_ids(&summary).len(),
        2,
        "replace and remove: {summary}"
    );
    for call in fake.calls() {
        assert!(
            !call.body.to_string().contains(GUILD_KEY),
            "the key went back out in {} {}",
            call.method,
            call.path
        );
    }
    // Removing it goes back to the instance's key.
    let remove = &button_ids(&summary)[1];
    let click = fake.click_button(remove, SUPPORT_CHANNEL, OTHER_ADMIN, MANAGE_GUILD);
    assert!(content(&private_text(&fake, click).await).contains("Removed"));
    assert!(
        store
            .guild_secret(GUILD_ID as i64, store::LLM_API_KEY, &master)
            .await
            .unwrap()
            .is_none()
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn setup_is_for_admins_and_takes_only_this_servers_channels() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let options = json!([{"name": "staff_channel", "type": 7, "value": STAFF_CHANNEL.to_string()}]);
    let refused = setup(&fake, options, MEMBER, 0);
    assert!(content(&private_text(&fake, refused).await).contains("Manage Server"));

    let elsewhere = json!([{"name": "staff_channel", "type": 7, "value": "1187402263094960129"}]);
    let foreign = setup(&fake, elsewhere, OWNER_ID, MANAGE_GUILD);
    assert!(content(&private_text(&fake, foreign).await).contains("not in this server"));

    let store = db.store().await;
    let settings = store.guild_settings(GUILD_ID as i64).await.unwrap();
    assert!(
        settings.get("staff_channel_id").is_none_or(Value::is_null),
        "nothing was saved: {settings}"
    );
    bot.stop().await.unwrap();
}
