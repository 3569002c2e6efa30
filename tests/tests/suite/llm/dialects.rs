//! What the chain asks for and what it returns: structured-output dialects, token fields,
//! JSON objects, and streams.

use agent::llm::{Dialect, FailureKind, ProviderChain, ProviderConfig};
use secrecy::SecretString;
use serde_json::{Value, json};
use tests::fake_openai::{Behaviour, FakeOpenAi, prompt_text};

use super::{DECISION, decision_request, decision_schema, failure, question, quick_retry};

fn dialects(fake: &FakeOpenAi) -> Vec<Option<String>> {
    fake.chat_requests()
        .iter()
        .map(|r| r.structured_dialect().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn structured_output_asks_for_a_json_schema_and_returns_the_object() {
    let fake = FakeOpenAi::with_responder(|_| DECISION.to_owned()).await;
    fake.require_api_key("sk-primary");
    fake.set_usage(120, 9);
    let primary = ProviderConfig {
        api_key: SecretString::from("sk-primary"),
        ..fake.provider("primary", "model-a")
    };
    let chain = ProviderChain::new(vec![primary], quick_retry());

    let completion = chain
        .structured(&decision_request())
        .await
        .expect("an answer");

    assert_eq!(completion.content, DECISION);
    assert_eq!(completion.dialect, Some(Dialect::JsonSchema));
    assert_eq!(
        (completion.provider.as_str(), completion.model.as_str()),
        ("primary", "model-a")
    );
    assert_eq!(
        (
            completion.usage.prompt_tokens,
            completion.usage.completion_tokens
        ),
        (120, 9)
    );
    assert_eq!(completion.attempts, 1);
    assert!(completion.failures.is_empty());
    let requests = fake.chat_requests();
    assert_eq!(requests.len(), 1);
    let format = &requests[0].body["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["name"], "decision");
    assert_eq!(format["json_schema"]["schema"], decision_schema());
    assert_eq!(requests[0].body["max_tokens"], 200);
    assert_eq!(requests[0].authorization(), Some("Bearer sk-primary"));
}

#[tokio::test]
async fn a_rejected_json_schema_falls_back_to_a_forced_tool_call() {
    let fake = FakeOpenAi::with_responder(|_| DECISION.to_owned()).await;
    fake.reject_json_schema();
    let chain = ProviderChain::new(vec![fake.provider("local", "llama")], quick_retry());

    let completion = chain
        .structured(&decision_request())
        .await
        .expect("an answer");

    assert_eq!(completion.content, DECISION);
    assert_eq!(completion.dialect, Some(Dialect::ToolCall));
    assert!(
        completion.failures.is_empty(),
        "a refused dialect is not a failure"
    );
    assert_eq!(
        dialects(&fake),
        [Some("json_schema".into()), Some("tools".into())]
    );
    let body = &fake.chat_requests()[1].body;
    assert_eq!(
        body["tools"][0]["function"]["parameters"],
        decision_schema()
    );
    assert_eq!(body["tool_choice"]["function"]["name"], "decision");
}

#[tokio::test]
async fn json_mode_is_the_last_resort_and_the_dialect_that_worked_is_reused() {
    // A model in JSON mode that still wraps its object in a fence.
    let fake =
        FakeOpenAi::with_responder(|_| format!("Here it is:\n```json\n{DECISION}\n```")).await;
    fake.reject_json_schema();
    fake.without_tools();
    let chain = ProviderChain::new(vec![fake.provider("local", "llama")], quick_retry());

    let first = chain
        .structured(&decision_request())
        .await
        .expect("an answer");
    assert_eq!(first.content, DECISION);
    assert_eq!(first.dialect, Some(Dialect::JsonObject));
    assert_eq!(first.attempts, 3);
    assert!(first.failures.is_empty());
    let json_mode = &fake.chat_requests()[2].body;
    assert_eq!(
        json_mode["response_format"],
        json!({"type": "json_object", "schema": decision_schema()})
    );
    let system = json_mode["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains(&decision_schema().to_string()), "{system}");

    let second = chain
        .structured(&decision_request())
        .await
        .expect("an answer");
    assert_eq!(second.dialect, Some(Dialect::JsonObject));
    assert_eq!(second.attempts, 1);
    assert_eq!(
        dialects(&fake),
        [
            Some("json_schema".into()),
            Some("tools".into()),
            Some("json_object".into()),
            Some("json_object".into())
        ]
    );
}

#[tokio::test]
async fn a_model_that_refuses_max_tokens_is_asked_with_max_completion_tokens() {
    let fake = FakeOpenAi::start().await;
    fake.max_completion_tokens_only();
    let chain = ProviderChain::new(vec![fake.provider("openai", "reasoner")], quick_retry());

    let first = chain.text(&question("Hello?")).await.expect("an answer");
    assert_eq!(first.content, "OK");
    assert!(first.failures.is_empty());
    chain.text(&question("Again?")).await.expect("an answer");

    let requests = fake.chat_requests();
    assert_eq!(
        requests.len(),
        3,
        "one refusal, then the new field is remembered"
    );
    assert_eq!(requests[0].body["max_tokens"], 400);
    for request in &requests[1..] {
        assert_eq!(request.body["max_completion_tokens"], 400);
        assert!(request.body.get("max_tokens").is_none());
    }
}

#[tokio::test]
async fn an_answer_that_is_not_a_json_object_is_asked_again() {
    let fake = FakeOpenAi::with_responder(|_| DECISION.to_owned()).await;
    fake.push([Behaviour::Reply(r#"["answer", 2]"#.into())]);
    let chain = ProviderChain::new(vec![fake.provider("primary", "a")], quick_retry());

    let completion = chain
        .structured(&decision_request())
        .await
        .expect("the retry answers");

    assert_eq!(completion.content, DECISION);
    assert_eq!(completion.attempts, 2);
    assert_eq!(
        completion.failures,
        [failure("primary", FailureKind::Malformed)]
    );
}

#[tokio::test]
async fn a_responder_can_answer_from_the_numbered_documents_in_the_prompt() {
    let fake = FakeOpenAi::with_responder(|request| {
        let prompt = prompt_text(request);
        let cited: Vec<u32> = prompt
            .lines()
            .filter(|l| l.contains("password"))
            .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
            .collect();
        json!({"action": "answer", "citations": cited}).to_string()
    })
    .await;
    let chain = ProviderChain::new(vec![fake.provider("primary", "a")], quick_retry());

    let completion = chain
        .structured(&decision_request())
        .await
        .expect("an answer");

    let decision: Value = serde_json::from_str(&completion.content).unwrap();
    assert_eq!(decision, json!({"action": "answer", "citations": [2]}));
}

#[tokio::test]
async fn streamed_deltas_arrive_in_order_and_the_completion_holds_the_whole_text() {
    let fake = FakeOpenAi::start().await;
    fake.set_usage(30, 7);
    let deltas = ["To reset ", "your password, ", "open Settings."];
    fake.push([Behaviour::Stream(
        deltas.iter().map(|d| (*d).to_owned()).collect(),
    )]);
    let chain = ProviderChain::new(vec![fake.provider("primary", "model-a")], quick_retry());

    let mut seen = Vec::new();
    let completion = chain
        .stream_text(&question("How do I reset my password?"), &mut |d: &str| {
            seen.push(d.to_owned())
        })
        .await
        .expect("an answer");

    assert_eq!(seen, deltas);
    assert_eq!(completion.content, deltas.concat());
    assert_eq!(
        (
            completion.usage.prompt_tokens,
            completion.usage.completion_tokens
        ),
        (30, 7)
    );
    assert_eq!(completion.dialect, None);
    let body = &fake.chat_requests()[0].body;
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn a_stream_cut_off_mid_answer_ends_the_call_without_showing_text_twice() {
    let primary = FakeOpenAi::start().await;
    let fallback = FakeOpenAi::start().await;
    primary.push([Behaviour::TruncatedStream(vec![
        "Half an ".into(),
        "answer".into(),
    ])]);
    let chain = ProviderChain::new(
        vec![
            primary.provider("primary", "a"),
            fallback.provider("fallback", "b"),
        ],
        quick_retry(),
    );

    let mut seen = Vec::new();
    let error = chain
        .stream_text(&question("Why?"), &mut |d: &str| seen.push(d.to_owned()))
        .await
        .expect_err("the stream broke");

    assert_eq!(seen, ["Half an ", "answer"]);
    assert_eq!(error.failures, [failure("primary", FailureKind::Malformed)]);
    assert_eq!(primary.chat_requests().len(), 1);
    assert!(fallback.chat_requests().is_empty());
}

#[tokio::test]
async fn a_stream_cut_before_any_text_is_retried() {
    let fake = FakeOpenAi::start().await;
    fake.push([Behaviour::TruncatedStream(Vec::new())]);
    let chain = ProviderChain::new(vec![fake.provider("primary", "a")], quick_retry());

    let mut seen = String::new();
    let completion = chain
        .stream_text(&question("Why?"), &mut |d: &str| seen.push_str(d))
        .await
        .expect("the retry answers");

    assert_eq!((seen.as_str(), completion.content.as_str()), ("OK", "OK"));
    assert_eq!(
        completion.failures,
        [failure("primary", FailureKind::Malformed)]
    );
}

#[tokio::test]
async fn a_streamed_decision_arrives_in_deltas_and_holds_the_object() {
    let fake = FakeOpenAi::start().await;
    let deltas = [
        "```json\n{\"action\": ",
        "\"answer\", ",
        "\"citations\": [2]}\n```",
    ];
    fake.push([Behaviour::Stream(
        deltas.iter().map(|d| (*d).to_owned()).collect(),
    )]);
    let chain = ProviderChain::new(vec![fake.provider("primary", "model-a")], quick_retry());

    let mut seen = String::new();
    let completion = chain
        .stream_structured(&decision_request(), &mut |d: &str| seen.push_str(d))
        .await
        .expect("an answer");

    assert_eq!(seen, deltas.concat());
    let decision: Value = serde_json::from_str(&completion.content).unwrap();
    assert_eq!(decision, json!({"action": "answer", "citations": [2]}));
    assert_eq!(completion.dialect, Some(Dialect::JsonSchema));
    let body = &fake.chat_requests()[0].body;
    assert_eq!(body["stream"], true);
    assert_eq!(body["response_format"]["type"], "json_schema");
}

#[tokio::test]
async fn a_provider_that_cannot_stream_is_asked_whole_in_the_same_dialect_from_then_on() {
    let fake = FakeOpenAi::with_responder(|_| DECISION.to_owned()).await;
    fake.without_streaming();
    let chain = ProviderChain::new(vec![fake.provider("primary", "model-a")], quick_retry());

    for _ in 0..2 {
        let mut seen = String::new();
        let completion = chain
            .stream_structured(&decision_request(), &mut |d: &str| seen.push_str(d))
            .await
            .expect("asked whole, it answers");
        assert_eq!(completion.content, DECISION);
        assert_eq!(completion.dialect, Some(Dialect::JsonSchema));
        assert!(completion.failures.is_empty(), "a refusal is not a failure");
        assert_eq!(seen, "", "nothing streamed");
    }
    let streamed: Vec<bool> = fake
        .chat_requests()
        .iter()
        .map(|r| r.body["stream"] == true)
        .collect();
    assert_eq!(streamed, [true, false, false], "the refusal is remembered");
}

#[tokio::test]
async fn in_the_tool_call_dialect_a_streamed_decision_is_asked_whole() {
    let fake = FakeOpenAi::with_responder(|_| DECISION.to_owned()).await;
    fake.reject_json_schema();
    let chain = ProviderChain::new(vec![fake.provider("primary", "model-a")], quick_retry());

    let mut seen = String::new();
    let completion = chain
        .stream_structured(&decision_request(), &mut |d: &str| seen.push_str(d))
        .await
        .expect("the tool call answers");

    assert_eq!(completion.dialect, Some(Dialect::ToolCall));
    assert_eq!(completion.content, DECISION);
    assert_eq!(seen, "");
    let requests = fake.chat_requests();
    assert_eq!(
        dialects(&fake),
        [Some("json_schema".into()), Some("tools".into())]
    );
    assert_eq!(requests[1].body.get("stream"), None);
}
