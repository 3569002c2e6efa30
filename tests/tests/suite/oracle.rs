//! The fake Discord as an oracle: requests real Discord would refuse are refused the way Discord
//! refuses them and recorded as violations, and a fake that recorded any fails its test.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use serenity::all::{
    CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage,
};
use tests::fake_discord::{
    BOT_ID, FakeDiscord, GUILD_ID, OTHER_CHANNEL, SUPPORT_CHANNEL, Violation, limits,
};

fn messages_path(channel: u64) -> String {
    format!("/api/v10/channels/{channel}/messages")
}

/// Takes the violations and checks there is exactly one, mentioning `what`.
fn one_violation(fake: &FakeDiscord, what: &str) -> Violation {
    let mut violations = fake.take_violations();
    assert_eq!(violations.len(), 1, "{violations:#?}");
    let v = violations.remove(0);
    assert!(v.what.contains(what), "{v}");
    v
}

/// The `_errors` Discord lists for one field of an Invalid Form Body answer.
fn field_errors<'a>(body: &'a Value, field: &[&str]) -> &'a Value {
    assert_eq!(body["code"], 50035, "{body}");
    assert_eq!(body["message"], "Invalid Form Body");
    let mut node = &body["errors"];
    for f in field {
        node = &node[*f];
    }
    &node["_errors"]
}

#[tokio::test]
async fn an_unknown_route_is_a_404_and_a_violation() {
    let fake = FakeDiscord::start().await;
    let (status, body) = fake
        .raw_request(
            "GET",
            &format!("/api/v10/channels/{SUPPORT_CHANNEL}/nonsense"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "404: Not Found");
    one_violation(&fake, "no such route");

    // A known path with a method Discord does not route is unknown too.
    let (status, _) = fake.raw_request("DELETE", "/api/v10/gateway", None).await;
    assert_eq!(status, 404);
    one_violation(&fake, "no such route");
}

#[tokio::test]
async fn message_content_over_2000_characters_is_invalid_form_body() {
    let fake = FakeDiscord::start().await;
    // Characters, not bytes: 2,000 two-byte characters are fine.
    let at_limit = "é".repeat(limits::CONTENT_LIMIT);
    let (status, _) = fake
        .raw_request(
            "POST",
            &messages_path(SUPPORT_CHANNEL),
            Some(&json!({"content": at_limit})),
        )
        .await;
    assert_eq!(status, 200);
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());

    let over = "x".repeat(limits::CONTENT_LIMIT + 1);
    let (status, body) = fake
        .raw_request(
            "POST",
            &messages_path(SUPPORT_CHANNEL),
            Some(&json!({"content": over})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        field_errors(&body, &["content"])[0]["code"],
        "BASE_TYPE_MAX_LENGTH"
    );
    one_violation(&fake, "limits");

    // Past the spec's own 4,000 the spec itself refuses it.
    let (status, _) = fake
        .raw_request(
            "POST",
            &messages_path(SUPPORT_CHANNEL),
            Some(&json!({"content": "x".repeat(4001)})),
        )
        .await;
    assert_eq!(status, 400);
    one_violation(&fake, "API description");
}

#[tokio::test]
async fn bodies_and_parameters_the_spec_refuses_are_invalid_form_body() {
    let fake = FakeDiscord::start().await;
    let cases: &[(&str, String, Value, &[&str])] = &[
        // Not a snowflake in the path.
        (
            "POST",
            "/api/v10/channels/general/messages".into(),
            json!({"content": "hi"}),
            &["channel_id"],
        ),
        // Wrong type.
        (
            "POST",
            messages_path(SUPPORT_CHANNEL),
            json!({"content": 42}),
            &["content"],
        ),
        // Allowed mentions must be IDs.
        (
            "POST",
            messages_path(SUPPORT_CHANNEL),
            json!({"content": "hi", "allowed_mentions": {"roles": [5000]}}),
            &["allowed_mentions"],
        ),
        // Thread names are 1–100 characters.
        (
            "POST",
            format!("/api/v10/channels/{SUPPORT_CHANNEL}/messages/{BOT_ID}/threads"),
            json!({"name": ""}),
            &["name"],
        ),
        // Archive durations are one of four.
        (
            "POST",
            format!("/api/v10/channels/{SUPPORT_CHANNEL}/messages/{BOT_ID}/threads"),
            json!({"name": "help", "auto_archive_duration": 30}),
            &["auto_archive_duration"],
        ),
        // A timeout end must be a date-time.
        (
            "PATCH",
            format!("/api/v10/guilds/{GUILD_ID}/members/{BOT_ID}"),
            json!({"communication_disabled_until": "tomorrow"}),
            &["communication_disabled_until"],
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, answer) = fake.raw_request(method, path, Some(body)).await;
        assert_eq!(status, 400, "{method} {path} {body}: {answer}");
        assert!(
            field_errors(&answer, field).is_array(),
            "{method} {path} {body}: errors under {field:?}: {answer}"
        );
        one_violation(&fake, "API description");
    }
    let (status, _) = fake
        .raw_request(
            "POST",
            &messages_path(SUPPORT_CHANNEL),
            Some(&json!({"content": "hi"})),
        )
        .await;
    assert_eq!(status, 200);
}

fn buttons(n: usize, prefix: &str) -> Value {
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"type": 2, "style": 2, "label": "go", "custom_id": format!("{prefix}{i}")}))
        .collect();
    json!({"type": 1, "components": items})
}

#[tokio::test]
async fn discord_limits_the_spec_cannot_state_are_enforced() {
    let fake = FakeDiscord::start().await;
    let path = messages_path(OTHER_CHANNEL);
    let embed = |chars: usize| json!({"title": "t", "description": "d".repeat(chars)});
    let refused: &[(Value, &[&str])] = &[
        (
            json!({"components": (0..6).map(|r| buttons(1, &format!("r{r}-"))).collect::<Vec<_>>()}),
            &["components"],
        ),
        (
            json!({"components": [buttons(2, "same"), {"type": 1, "components": [{"type": 2, "style": 2, "label": "go", "custom_id": "same0"}]}]}),
            &["components", "1", "components", "0", "custom_id"],
        ),
        (json!({"embeds": [embed(3000), embed(3000)]}), &["embeds"]),
    ];
    for (body, field) in refused {
        let (status, answer) = fake.raw_request("POST", &path, Some(body)).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(field_errors(&answer, field).is_array(), "{answer}");
        one_violation(&fake, "limits");
    }
    let fine = json!({
        "content": "five rows of five",
        "components": (0..5).map(|r| buttons(5, &format!("r{r}-"))).collect::<Vec<_>>(),
        "embeds": [embed(2900), embed(2900)]
    });
    let (status, answer) = fake.raw_request("POST", &path, Some(&fine)).await;
    assert_eq!(status, 200, "{answer}");
    // A custom_id over 100 characters and six buttons in a row: the spec's own limits.
    let (status, _) = fake
        .raw_request(
            "POST",
            &path,
            Some(&json!({"components": [buttons(1, &"x".repeat(100))]})),
        )
        .await;
    assert_eq!(status, 400);
    one_violation(&fake, "API description");
    let (status, _) = fake
        .raw_request(
            "POST",
            &path,
            Some(&json!({"components": [buttons(6, "b")]})),
        )
        .await;
    assert_eq!(status, 400);
    one_violation(&fake, "API description");
}

#[tokio::test]
async fn timeouts_reach_at_most_28_days_ahead() {
    let fake = FakeDiscord::start().await;
    let path = format!("/api/v10/guilds/{GUILD_ID}/members/{BOT_ID}");
    let until = |days: i64| (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339();
    let (status, _) = fake
        .raw_request(
            "PATCH",
            &path,
            Some(&json!({"communication_disabled_until": until(27)})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, answer) = fake
        .raw_request(
            "PATCH",
            &path,
            Some(&json!({"communication_disabled_until": until(29)})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(field_errors(&answer, &["communication_disabled_until"]).is_array());
    one_violation(&fake, "28 days");
}

fn private_reply(text: &str) -> CreateInteractionResponse {
    CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content(text)
            .ephemeral(true),
    )
}

/// The status and Discord error code serenity saw.
fn discord_error(e: serenity::Error) -> (u16, isize) {
    match e {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r)) => {
            (r.status_code.as_u16(), r.error.code)
        }
        other => panic!("expected Discord to refuse the request, got {other}"),
    }
}

#[tokio::test]
async fn an_interaction_takes_one_response_within_3_s_then_follow_ups() {
    let fake = FakeDiscord::start().await;
    let http = fake.http();

    let (id, token) = fake.open_interaction(SUPPORT_CHANNEL, Duration::ZERO);
    http.create_interaction_response(id.into(), &token, &private_reply("first"), vec![])
        .await
        .expect("the first response is accepted");
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());

    let again = http
        .create_interaction_response(id.into(), &token, &private_reply("second"), vec![])
        .await
        .expect_err("a second initial response is refused");
    assert_eq!(discord_error(again), (400, 40060));
    one_violation(&fake, "already acknowledged");

    // poise's second `ctx.send`: a follow-up through the interaction's webhook.
    let follow_up = http
        .create_followup_message(
            &token,
            &CreateInteractionResponseFollowup::new()
                .content("more")
                .ephemeral(true),
            vec![],
        )
        .await
        .expect("a follow-up after the response is accepted");
    assert_eq!(follow_up.channel_id.get(), SUPPORT_CHANNEL);
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
    assert!(fake.calls().iter().any(
        |c| c.method == Method::POST && c.path == format!("/api/v10/webhooks/{BOT_ID}/{token}")
    ));

    let (_, unanswered) = fake.open_interaction(SUPPORT_CHANNEL, Duration::ZERO);
    let early = http
        .create_followup_message(
            &unanswered,
            &CreateInteractionResponseFollowup::new().content("too early"),
            vec![],
        )
        .await
        .expect_err("no follow-up before the response");
    assert_eq!(discord_error(early), (404, 10015));
    one_violation(&fake, "not an acknowledged interaction");

    let (late, late_token) = fake.open_interaction(SUPPORT_CHANNEL, Duration::from_secs(4));
    let gone = http
        .create_interaction_response(late.into(), &late_token, &private_reply("late"), vec![])
        .await
        .expect_err("an interaction older than 3 s is gone");
    assert_eq!(discord_error(gone), (404, 10062));
    one_violation(&fake, "past Discord's 3 s");
}

#[tokio::test]
async fn the_fakes_own_answers_are_checked_against_the_spec() {
    let fake = FakeDiscord::start().await;
    // A canned refusal without Discord's `code` is not an answer Discord gives.
    fake.fail_next(
        Method::POST,
        "/messages",
        StatusCode::FORBIDDEN,
        json!({"error": "nope"}),
    );
    let (status, _) = fake
        .raw_request(
            "POST",
            &messages_path(SUPPORT_CHANNEL),
            Some(&json!({"content": "hi"})),
        )
        .await;
    assert_eq!(status, 403);
    one_violation(&fake, "the fake's own answer");
}

#[tokio::test]
#[should_panic(expected = "recorded 1 violation")]
async fn a_test_whose_fake_saw_a_violation_fails_even_if_nobody_looks() {
    let fake = FakeDiscord::start().await;
    let (status, _) = fake
        .raw_request("POST", "/api/v10/channels/not-an-id/messages", None)
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_bot_edits_only_its_own_messages_and_each_edit_is_kept() {
    let fake = FakeDiscord::start().await;
    let path = messages_path(SUPPORT_CHANNEL);
    let (status, posted) = fake
        .raw_request("POST", &path, Some(&json!({"content": "Open"})))
        .await;
    assert_eq!(status, 200, "{posted}");
    let id: u64 = posted["id"].as_str().unwrap().parse().unwrap();

    let edit = json!({"content": "Open Settings", "components": [buttons(2, "b")]});
    let (status, edited) = fake
        .raw_request("PATCH", &format!("{path}/{id}"), Some(&edit))
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["content"], "Open Settings");
    assert!(edited["edited_timestamp"].is_string());
    let (content, components) = fake.shown(id).unwrap();
    assert_eq!(content, "Open Settings");
    assert_eq!(components[0]["components"].as_array().unwrap().len(), 2);
    assert_eq!(fake.edits_of(id).len(), 1);

    let (status, _) = fake
        .raw_request(
            "PATCH",
            &format!("{path}/{id}"),
            Some(&json!({"content": "x".repeat(2001)})),
        )
        .await;
    assert_eq!(status, 400);
    one_violation(&fake, "limits");
    assert_eq!(fake.shown(id).unwrap().0, "Open Settings");

    let member_message = fake.send_message(
        SUPPORT_CHANNEL,
        tests::fake_discord::Author::Member(871_337_004_238_450_729),
        "my question",
    );
    let (status, refused) = fake
        .raw_request(
            "PATCH",
            &format!("{path}/{member_message}"),
            Some(&json!({"content": "rewritten"})),
        )
        .await;
    assert_eq!((status, refused["code"].as_u64()), (403, Some(50005)));
    let (status, refused) = fake
        .raw_request(
            "PATCH",
            &format!("{path}/{}", id + 1_000),
            Some(&json!({"content": "?"})),
        )
        .await;
    assert_eq!((status, refused["code"].as_u64()), (404, Some(10008)));
}
