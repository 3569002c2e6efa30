//! `/knowledge add | list | remove | reindex | search` through the real client against the
//! fake Discord: files attached to the command come from the fake CDN, web pages from a small
//! server on 127.0.0.1. Admin-only on our side, private, and blind to other guilds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;
use serde_json::{Value, json};
use tests::fake_discord::{
    Author, BOT_ID, FakeDiscord, RestCall, SUPPORT_CHANNEL, interaction_token,
};
use tests::{RunningBot, TestDb};

use crate::e2e::{
    DOCS, MANAGE_GUILD, MEMBER, WAIT, enable_support_channel, is_post_to, thread_for,
};

/// An admin of the test guild.
const ADMIN: u64 = 862_004_417_229_871_104;
/// A guild the bot does not serve here; its knowledge is seeded straight into the base.
const OTHER_GUILD: u64 = 1_187_402_263_094_960_128;
/// Every permission but Manage Server (Administrator included would grant it).
const ALL_BUT_MANAGE_GUILD: u64 = 0x7ff_ffff_ffff & !MANAGE_GUILD & !0x8;

const EXPORTS_MD: &str = "# Reports\n\n## Export a report as CSV\n\nOpen **Reports**, pick \
     the report and click **Export CSV**. The file holds every column you chose, in that order.\n";

/// Guild B's private page: nothing of it may reach guild A.
const OTHER_DOCS: &[(&str, &str)] = &[(
    "vault.md",
    "# Vault\n\n## Vault combination\n\nThe vault combination is kept in the blue binder.\n",
)];

/// The webhook calls (edits and follow-ups) made for `interaction`, in order.
fn webhook_calls(fake: &FakeDiscord, interaction: u64) -> Vec<RestCall> {
    let webhook = format!(
        "/api/v10/webhooks/{BOT_ID}/{}",
        interaction_token(interaction)
    );
    fake.calls()
        .into_iter()
        .filter(|c| c.path.starts_with(&webhook))
        .collect()
}

/// The interaction's initial response.
async fn callback(fake: &FakeDiscord, interaction: u64) -> Value {
    fake.wait_for_call("the interaction's response", WAIT, |c| {
        c.path
            .starts_with(&format!("/api/v10/interactions/{interaction}/"))
    })
    .await
    .body
}

/// Waits until an edit of the deferred reply satisfies `done`; returns every edit so far.
async fn edits_until(
    fake: &FakeDiscord,
    interaction: u64,
    done: impl Fn(&str) -> bool,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let edits: Vec<String> = webhook_calls(fake, interaction)
            .iter()
            .filter(|c| c.method == Method::PATCH && c.path.ends_with("/messages/@original"))
            .map(|c| c.body["content"].as_str().unwrap_or_default().to_string())
            .collect();
        if edits.iter().any(|e| done(e)) {
            return edits;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no final reply to interaction {interaction}; edits so far: {edits:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `/knowledge <sub>` and returns the deferred reply's final text: the first edit that
/// is not a progress line (those end in `…`).
async fn run(fake: &FakeDiscord, sub: &str, options: Value, user: u64, permissions: u64) -> String {
    let id = fake.send_command(
        "knowledge",
        json!([{"name": sub, "type": 1, "options": options}]),
        SUPPORT_CHANNEL,
        user,
        permissions,
    );
    final_text(fake, id).await
}

async fn final_text(fake: &FakeDiscord, interaction: u64) -> String {
    let deferred = callback(fake, interaction).await;
    assert_eq!(deferred["type"], 5, "long work is deferred at once");
    assert_eq!(deferred["data"]["flags"], 64, "the reply is private");
    let edits = edits_until(fake, interaction, |e| !e.ends_with('…')).await;
    edits
        .into_iter()
        .find(|e| !e.ends_with('…'))
        .expect("edits_until found one")
}

fn add_file(fake: &FakeDiscord, name: &str, content_type: &str, bytes: &[u8]) -> u64 {
    fake.send_command_with_file(
        "knowledge",
        "add",
        "file",
        (name, content_type, bytes.to_vec()),
        SUPPORT_CHANNEL,
        ADMIN,
        MANAGE_GUILD,
    )
}

/// The first source id `/knowledge list` shows on a line mentioning `name`.
fn source_id(list: &str, name: &str) -> i64 {
    list.lines()
        .find(|l| l.contains(name))
        .and_then(|l| l.split('`').nth(1))
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no source {name} in the list:\n{list}"))
}

/// The click's answer: the confirmation replaced by `text` (and no buttons).
async fn click_answer(fake: &FakeDiscord, click: u64) -> Value {
    let call = fake
        .wait_for_call("the click's answer", WAIT, |c| {
            c.path
                .starts_with(&format!("/api/v10/interactions/{click}/"))
        })
        .await;
    assert_eq!(call.body["type"], 7, "the confirmation is updated in place");
    assert_eq!(call.body["data"]["components"], json!([]));
    call.body["data"].clone()
}

/// The custom ID of the confirmation's "Remove" button.
async fn remove_button(fake: &FakeDiscord, interaction: u64) -> String {
    let question = callback(fake, interaction).await;
    assert_eq!(question["type"], 4, "the question is the response itself");
    assert_eq!(question["data"]["flags"], 64, "the question is private");
    question["data"]["components"][0]["components"][0]["custom_id"]
        .as_str()
        .expect("a Remove button")
        .to_string()
}

#[tokio::test]
async fn an_attached_file_is_added_with_progress_then_searched_and_answered_from() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    enable_support_channel(&db).await;
    // The product's other docs are there already: the new file joins them.
    let bot = RunningBot::start_with(&fake, &db, DOCS, |_| {}).await;

    let added = add_file(&fake, "reports.md", "text/markdown", EXPORTS_MD.as_bytes());
    let deferred = callback(&fake, added).await;
    assert_eq!(deferred["type"], 5);
    assert_eq!(deferred["data"]["flags"], 64);
    let edits = edits_until(&fake, added, |e| e.starts_with("Added")).await;
    let last = edits.last().expect("a final edit");
    assert!(
        last.starts_with("Added `reports.md`:") && last.contains("chunks indexed"),
        "the final reply sums up the ingest: {last}"
    );
    assert!(
        edits.len() >= 2 && edits[0].ends_with('…'),
        "a progress edit came before the final one: {edits:#?}"
    );
    let cdn = fake.cdn_requests();
    assert_eq!(cdn.len(), 1, "the file was downloaded once: {cdn:?}");
    assert!(cdn[0].starts_with(&format!("/ephemeral-attachments/{SUPPORT_CHANNEL}/")));

    let found = run(
        &fake,
        "search",
        json!([{"name": "query", "type": 3, "value": "how do I export a report?"}]),
        ADMIN,
        MANAGE_GUILD,
    )
    .await;
    assert!(
        found.contains("**Reports** › Export a report as CSV") && found.contains("score"),
        "search shows the chunk with its title, heading and score: {found}"
    );

    let message = fake.send_message(
        SUPPORT_CHANNEL,
        Author::Member(MEMBER),
        "How do I export a report as CSV?",
    );
    let thread = thread_for(&fake, message).await;
    let reply = fake
        .wait_for_call("the answer", WAIT, is_post_to(thread))
        .await;
    let answer = reply.body["content"].as_str().unwrap_or_default();
    assert!(
        answer.contains("click Export CSV") && answer.contains("(`reports.md`)"),
        "the bot answers from the uploaded file: {answer}"
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_broken_or_unsupported_file_gets_a_clear_error_and_adds_nothing() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = RunningBot::start(&fake, &db).await;

    let broken = add_file(
        &fake,
        "manual.pdf",
        "application/pdf",
        b"this is no PDF at all",
    );
    let text = final_text(&fake, broken).await;
    assert!(
        text.starts_with("Not added:") && text.contains("not a PDF file"),
        "a broken PDF says what is wrong: {text}"
    );
    let unsupported = add_file(
        &fake,
        "sheet.xlsx",
        "application/vnd.ms-excel",
        b"PK\x03\x04",
    );
    let text = final_text(&fake, unsupported).await;
    assert!(
        text.starts_with("Not added:") && text.contains("unsupported file type .xlsx"),
        "an unsupported type says what is supported: {text}"
    );
    let found = run(
        &fake,
        "search",
        json!([{"name": "query", "type": 3, "value": "PDF sheet"}]),
        ADMIN,
        MANAGE_GUILD,
    )
    .await;
    assert!(found.starts_with("Nothing"), "nothing was indexed: {found}");
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn an_attachment_not_on_discords_cdn_or_over_the_limit_is_never_downloaded() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let page = Arc::new(Mutex::new(shipping_page(3)));
    let inside = serve_page(page).await;
    let bot = RunningBot::start(&fake, &db).await;

    // Resolved data naming an internal address instead of Discord's CDN.
    let forged = |url: &str, size: u64| {
        let attachment = json!({
            "id": "1190000000000000001", "filename": "notes.md", "size": size,
            "url": url, "proxy_url": url, "content_type": "text/markdown", "ephemeral": true
        });
        fake.send_command_resolved(
            "knowledge",
            json!([{"name": "add", "type": 1,
                    "options": [{"name": "file", "type": 11, "value": "1190000000000000001"}]}]),
            json!({"attachments": {"1190000000000000001": attachment}}),
            SUPPORT_CHANNEL,
            ADMIN,
            MANAGE_GUILD,
        )
    };
    let text = final_text(&fake, forged(&inside, 120)).await;
    assert_eq!(
        text,
        "Not added: that attachment does not come from Discord's CDN; nothing was downloaded."
    );
    let text = final_text(
        &fake,
        forged("https://cdn.discordapp.com.evil.example/a/b/notes.md", 120),
    )
    .await;
    assert!(text.contains("does not come from Discord's CDN"), "{text}");
    let text = final_text(
        &fake,
        forged(
            "https://cdn.discordapp.com/ephemeral-attachments/1/2/notes.md",
            64 * 1024 * 1024,
        ),
    )
    .await;
    assert!(
        text.contains("files up to 10485760 bytes can be added"),
        "the size limit is said: {text}"
    );
    assert!(fake.cdn_requests().is_empty(), "{:?}", fake.cdn_requests());
    let list = run(&fake, "list", json!([]), ADMIN, MANAGE_GUILD).await;
    assert!(list.starts_with("No knowledge sources"), "{list}");
    bot.stop().await.unwrap();
}

/// A page server on 127.0.0.1 whose page text the test can change.
async fn serve_page(body: Arc<Mutex<String>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/help/shipping",
        axum::routing::get(move || {
            let body = body.lock().unwrap().clone();
            async move { ([("content-type", "text/html; charset=utf-8")], body) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/help/shipping")
}

fn shipping_page(days: u32) -> String {
    format!(
        "<html><head><title>Shipping</title></head><body><h1>Shipping</h1><h2>Delivery \
         times</h2><p>Parcels arrive within {days} days of the order.</p></body></html>"
    )
}

#[tokio::test]
async fn a_url_is_added_listed_reindexed_after_it_changed_and_removed_after_confirmation() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let page = Arc::new(Mutex::new(shipping_page(3)));
    let url = serve_page(Arc::clone(&page)).await;
    let bot = RunningBot::start_with(&fake, &db, &[], |config| {
        config.knowledge.allow_private_urls = true;
    })
    .await;

    let added = run(
        &fake,
        "add",
        json!([{"name": "url", "type": 3, "value": url}]),
        ADMIN,
        MANAGE_GUILD,
    )
    .await;
    assert!(
        added.starts_with(&format!("Added <{url}>:")) && added.contains("chunks indexed"),
        "{added}"
    );

    let list = run(&fake, "list", json!([]), ADMIN, MANAGE_GUILD).await;
    assert!(
        list.contains(&format!("<{url}> — indexed,")) && list.contains("chunks, updated"),
        "the list shows id, name, status, chunks and when: {list}"
    );
    let id = source_id(&list, &url);

    let unchanged = run(&fake, "reindex", json!([]), ADMIN, MANAGE_GUILD).await;
    assert!(unchanged.contains("unchanged"), "{unchanged}");
    *page.lock().unwrap() = shipping_page(9);
    let reindexed = run(
        &fake,
        "reindex",
        json!([{"name": "source", "type": 4, "value": id}]),
        ADMIN,
        MANAGE_GUILD,
    )
    .await;
    assert!(
        reindexed.contains("1 new or changed"),
        "re-indexing fetched the changed page: {reindexed}"
    );
    let found = run(
        &fake,
        "search",
        json!([{"name": "query", "type": 3, "value": "how long until parcels arrive"}]),
        ADMIN,
        MANAGE_GUILD,
    )
    .await;
    assert!(found.contains("within 9 days"), "{found}");

    // Cancel first: nothing changes.
    let asked = fake.send_command(
        "knowledge",
        json!([{"name": "remove", "type": 1, "options": [{"name": "source", "type": 4, "value": id}]}]),
        SUPPORT_CHANNEL,
        ADMIN,
        MANAGE_GUILD,
    );
    let yes = remove_button(&fake, asked).await;
    let click = fake.click_button(
        &yes.replace(":yes", ":no"),
        SUPPORT_CHANNEL,
        ADMIN,
        MANAGE_GUILD,
    );
    let cancelled = click_answer(&fake, click).await;
    assert_eq!(cancelled["content"], "Cancelled: nothing was removed.");

    let asked = fake.send_command(
        "knowledge",
        json!([{"name": "remove", "type": 1, "options": [{"name": "source", "type": 4, "value": id}]}]),
        SUPPORT_CHANNEL,
        ADMIN,
        MANAGE_GUILD,
    );
    let yes = remove_button(&fake, asked).await;
    let click = fake.click_button(&yes, SUPPORT_CHANNEL, ADMIN, MANAGE_GUILD);
    click_answer(&fake, click).await;
    let done = fake
        .wait_for_call("the removal's result", WAIT, |c| {
            c.method == Method::PATCH
                && c.path.contains(&interaction_token(click))
                && c.body["content"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("Removed"))
        })
        .await;
    assert!(
        done.body["content"]
            .as_str()
            .unwrap()
            .contains(&format!("source {id}"))
    );
    let list = run(&fake, "list", json!([]), ADMIN, MANAGE_GUILD).await;
    assert!(list.starts_with("No knowledge sources"), "{list}");
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_private_address_is_refused_unless_configured() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let url = serve_page(Arc::new(Mutex::new(shipping_page(3)))).await;
    let bot = RunningBot::start(&fake, &db).await;
    let text = run(
        &fake,
        "add",
        json!([{"name": "url", "type": 3, "value": url}]),
        ADMIN,
        MANAGE_GUILD,
    )
    .await;
    assert!(
        text.starts_with("Not added: could not fetch"),
        "the URL source keeps the knowledge crate's address checks: {text}"
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_member_without_manage_server_is_refused_even_if_discord_let_the_command_through() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = RunningBot::start(&fake, &db).await;

    // Discord's default permissions were changed so the command reached a member.
    let searched = fake.send_command(
        "knowledge",
        json!([{"name": "list", "type": 1, "options": []}]),
        SUPPORT_CHANNEL,
        MEMBER,
        ALL_BUT_MANAGE_GUILD,
    );
    let refused = callback(&fake, searched).await;
    assert_eq!(refused["type"], 4);
    assert_eq!(refused["data"]["flags"], 64);
    assert!(
        refused["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("Manage Server"),
        "{refused}"
    );
    let upload = fake.send_command_with_file(
        "knowledge",
        "add",
        "file",
        ("notes.md", "text/markdown", b"# Notes\n\nsecret".to_vec()),
        SUPPORT_CHANNEL,
        MEMBER,
        ALL_BUT_MANAGE_GUILD,
    );
    let refused = callback(&fake, upload).await;
    assert!(
        refused["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("Manage Server")
    );
    assert!(
        fake.cdn_requests().is_empty(),
        "the member's file was never downloaded: {:?}",
        fake.cdn_requests()
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_click_on_remove_by_someone_who_lost_manage_server_removes_nothing() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    let bot = RunningBot::start(&fake, &db).await;
    let added = add_file(&fake, "reports.md", "text/markdown", EXPORTS_MD.as_bytes());
    final_text(&fake, added).await;
    let list = run(&fake, "list", json!([]), ADMIN, MANAGE_GUILD).await;
    let id = source_id(&list, "reports.md");

    let asked = fake.send_command(
        "knowledge",
        json!([{"name": "remove", "type": 1, "options": [{"name": "source", "type": 4, "value": id}]}]),
        SUPPORT_CHANNEL,
        ADMIN,
        MANAGE_GUILD,
    );
    let yes = remove_button(&fake, asked).await;
    let click = fake.click_button(&yes, SUPPORT_CHANNEL, ADMIN, ALL_BUT_MANAGE_GUILD);
    let answer = click_answer(&fake, click).await;
    assert!(
        answer["content"]
            .as_str()
            .unwrap_or_default()
            .contains("Manage Server"),
        "{answer}"
    );
    let list = run(&fake, "list", json!([]), ADMIN, MANAGE_GUILD).await;
    assert_eq!(
        source_id(&list, "reports.md"),
        id,
        "the source is still there"
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn guild_a_admin_cannot_list_search_reindex_or_remove_guild_b_sources() {
    let fake = FakeDiscord::start().await;
    let db = TestDb::sqlite();
    // Guild B's knowledge, seeded straight into the base before the bot opens it.
    let bot = RunningBot::launch_for(&fake, &db, &[OTHER_GUILD], OTHER_DOCS, |_| {}).await;
    fake.wait_for_call("slash command registration", WAIT, |c| {
        c.method == Method::PUT && c.path.ends_with("/commands")
    })
    .await;
    let store = db.store().await;
    let b_sources = store
        .knowledge_sources(OTHER_GUILD as i64)
        .await
        .expect("guild B's sources");
    assert_eq!(b_sources.len(), 1);
    let b_id = b_sources[0].id;

    let list = run(&fake, "list", json!([]), ADMIN, MANAGE_GUILD).await;
    assert!(list.starts_with("No knowledge sources"), "{list}");
    let found = run(
        &fake,
        "search",
        json!([{"name": "query", "type": 3, "value": "vault combination"}]),
        ADMIN,
        MANAGE_GUILD,
    )
    .await;
    assert!(
        found.starts_with("Nothing") && !found.contains("binder"),
        "{found}"
    );
    let reindexed = run(
        &fake,
        "reindex",
        json!([{"name": "source", "type": 4, "value": b_id}]),
        ADMIN,
        MANAGE_GUILD,
    )
    .await;
    assert!(reindexed.starts_with("No such source"), "{reindexed}");

    // A forged id of guild B's source: "no such source", no button, nothing removed.
    let asked = fake.send_command(
        "knowledge",
        json!([{"name": "remove", "type": 1, "options": [{"name": "source", "type": 4, "value": b_id}]}]),
        SUPPORT_CHANNEL,
        ADMIN,
        MANAGE_GUILD,
    );
    let answer = callback(&fake, asked).await;
    assert_eq!(answer["data"]["flags"], 64);
    assert!(
        answer["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!("No such source: {b_id}")),
        "{answer}"
    );
    assert!(
        answer["data"]["components"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    let still = store
        .knowledge_sources(OTHER_GUILD as i64)
        .await
        .expect("guild B's sources");
    assert_eq!(still.len(), 1, "guild B's source is untouched");
    assert_eq!(still[0].chunk_count, b_sources[0].chunk_count);
    bot.stop().await.unwrap();
}
