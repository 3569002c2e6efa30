//! When providers fail: retries, Retry-After, fallbacks, cool-downs, errors that carry no
//! provider text, and probes.

use std::time::{Duration, Instant};

use agent::llm::{FailureKind, ProbeReport, ProviderChain, ProviderConfig, RetryPolicy};
use secrecy::SecretString;
use tests::LogCapture;
use tests::fake_openai::{Behaviour, FakeOpenAi, prompt_text};

use super::{DECISION, decision_request, failure, question, quick_retry};

#[tokio::test]
async fn a_rate_limit_with_retry_after_is_waited_out_on_the_same_provider() {
    let fake = FakeOpenAi::start().await;
    fake.push([Behaviour::rate_limited("1")]);
    let policy = RetryPolicy {
        max_delay: Duration::from_secs(2),
        ..quick_retry()
    };
    let chain = ProviderChain::new(vec![fake.provider("primary", "a")], policy);

    let completion = chain
        .text(&question("Hi"))
        .await
        .expect("the retry answers");

    let requests = fake.chat_requests();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].at - requests[0].at;
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
    assert_eq!(completion.attempts, 2);
    assert_eq!(
        completion.failures,
        [failure("primary", FailureKind::RateLimited)]
    );
}

#[tokio::test]
async fn a_retry_after_longer_than_max_delay_moves_to_the_fallback_at_once() {
    let primary = FakeOpenAi::start().await;
    let fallback = FakeOpenAi::start().await;
    primary.push([Behaviour::rate_limited("30")]);
    let chain = ProviderChain::new(
        vec![
            primary.provider("primary", "a"),
            fallback.provider("fallback", "b"),
        ],
        quick_retry(),
    );

    let started = Instant::now();
    let completion = chain
        .text(&question("Hi"))
        .await
        .expect("the fallback answers");

    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        (completion.provider.as_str(), completion.model.as_str()),
        ("fallback", "b")
    );
    assert_eq!(
        completion.failures,
        [failure("primary", FailureKind::RateLimited)]
    );
    assert_eq!(primary.chat_requests().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_then_the_fallback_answers() {
    let primary = FakeOpenAi::start().await;
    let fallback = FakeOpenAi::with_responder(|_| DECISION.to_owned()).await;
    primary.push([
        Behaviour::status(500),
        Behaviour::status(503),
        Behaviour::status(500),
    ]);
    let chain = ProviderChain::new(
        vec![
            primary.provider("primary", "a"),
            fallback.provider("fallback", "b"),
        ],
        quick_retry(),
    );

    let completion = chain
        .structured(&decision_request())
        .await
        .expect("the fallback answers");

    assert_eq!(completion.provider, "fallback");
    assert_eq!(completion.content, DECISION);
    assert_eq!(completion.attempts, 4);
    assert_eq!(
        completion.failures,
        [
            failure("primary", FailureKind::Server(500)),
            failure("primary", FailureKind::Server(503)),
            failure("primary", FailureKind::Server(500)),
        ]
    );
    assert_eq!(primary.chat_requests().len(), 3);
}

#[tokio::test]
async fn a_provider_that_times_out_gives_way_to_the_fallback() {
    let primary = FakeOpenAi::start().await;
    let fallback = FakeOpenAi::start().await;
    let slow = || Behaviour::delayed(Duration::from_secs(2), Behaviour::Respond);
    primary.push([slow(), slow()]);
    let hasty = ProviderConfig {
        timeout: Duration::from_millis(100),
        ..primary.provider("primary", "a")
    };
    let policy = RetryPolicy {
        attempts_per_provider: 2,
        ..quick_retry()
    };
    let chain = ProviderChain::new(vec![hasty, fallback.provider("fallback", "b")], policy);

    let started = Instant::now();
    let completion = chain
        .text(&question("Hi"))
        .await
        .expect("the fallback answers");

    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(completion.provider, "fallback");
    assert_eq!(
        completion.failures,
        [
            failure("primary", FailureKind::Timeout),
            failure("primary", FailureKind::Timeout)
        ]
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_is_malformed_and_never_logged() {
    let capture = LogCapture::default();
    let _guard = capture.install("debug");
    let primary = FakeOpenAi::start().await;
    let fallback = FakeOpenAi::start().await;
    primary.push([Behaviour::MalformedBody, Behaviour::MalformedBody]);
    let chain = ProviderChain::new(
        vec![
            primary.provider("primary", "a"),
            fallback.provider("fallback", "b"),
        ],
        quick_retry(),
    );

    let completion = chain
        .text(&question("Hi"))
        .await
        .expect("the fallback answers");

    assert_eq!(completion.provider, "fallback");
    assert_eq!(
        completion.failures,
        [
            failure("primary", FailureKind::Malformed),
            failure("primary", FailureKind::Malformed)
        ],
        "retried once on the same provider, then the next"
    );
    let logs = capture.text();
    assert!(logs.contains("malformed answer"), "{logs}");
    assert!(
        !logs.contains("chatcmpl-x"),
        "the body reached the logs: {logs}"
    );
}

#[tokio::test]
async fn a_failing_provider_cools_down_then_is_tried_again() {
    let primary = FakeOpenAi::start().await;
    let fallback = FakeOpenAi::start().await;
    primary.push([Behaviour::status(500), Behaviour::status(500)]);
    let policy = RetryPolicy {
        attempts_per_provider: 1,
        failures_before_cool_down: 2,
        cool_down: Duration::from_millis(300),
        ..quick_retry()
    };
    let chain = ProviderChain::new(
        vec![
            primary.provider("primary", "a"),
            fallback.provider("fallback", "b"),
        ],
        policy,
    );

    for _ in 0..2 {
        let c = chain
            .text(&question("Hi"))
            .await
            .expect("the fallback answers");
        assert_eq!(c.failures, [failure("primary", FailureKind::Server(500))]);
    }
    let skipped = chain
        .text(&question("Hi"))
        .await
        .expect("the fallback answers");
    assert_eq!(skipped.provider, "fallback");
    assert_eq!(
        skipped.failures,
        [failure("primary", FailureKind::CoolingDown)]
    );
    assert_eq!(
        primary.chat_requests().len(),
        2,
        "no request reached the cooling provider"
    );

    tokio::time::sleep(Duration::from_millis(350)).await;
    let back = chain
        .text(&question("Hi"))
        .await
        .expect("the primary answers");
    assert_eq!(
        (back.provider.as_str(), back.failures.len()),
        ("primary", 0)
    );
    let again = chain
        .text(&question("Hi"))
        .await
        .expect("the primary answers");
    assert_eq!(again.provider, "primary");
    assert_eq!(primary.chat_requests().len(), 4);
}

#[tokio::test]
async fn when_every_provider_is_cooling_down_the_chain_fails_at_once() {
    let primary = FakeOpenAi::start().await;
    let fallback = FakeOpenAi::start().await;
    primary.push([Behaviour::status(500)]);
    fallback.push([Behaviour::status(503)]);
    let policy = RetryPolicy {
        attempts_per_provider: 1,
        failures_before_cool_down: 1,
        ..quick_retry()
    };
    let chain = ProviderChain::new(
        vec![
            primary.provider("primary", "a"),
            fallback.provider("fallback", "b"),
        ],
        policy,
    );

    let first = chain.text(&question("Hi")).await.expect_err("both fail");
    assert_eq!(
        first.failures,
        [
            failure("primary", FailureKind::Server(500)),
            failure("fallback", FailureKind::Server(503))
        ]
    );
    let second = chain
        .text(&question("Hi"))
        .await
        .expect_err("both cool down");
    assert!(second.all_cooling_down());
    assert_eq!(
        second.to_string(),
        "no LLM provider answered (primary: cooling down; fallback: cooling down)"
    );
    assert_eq!(
        primary.chat_requests().len() + fallback.chat_requests().len(),
        2,
        "the second call sent nothing"
    );
}

#[tokio::test]
async fn when_every_provider_fails_the_error_lists_kinds_and_no_provider_text() {
    let capture = LogCapture::default();
    let _guard = capture.install("debug");
    let member_text = "my card number is 4111-1111";
    let echo = |status: u16| Behaviour::Status {
        status,
        retry_after: None,
        message: format!("Could not process: {member_text}"),
    };
    let primary = FakeOpenAi::start().await;
    let fallback = FakeOpenAi::start().await;
    primary.push([echo(400)]);
    fallback.push([echo(503), echo(503), echo(503)]);
    let chain = ProviderChain::new(
        vec![
            primary.provider("primary", "a"),
            fallback.provider("fallback", "b"),
        ],
        quick_retry(),
    );

    let error = chain
        .text(&question(member_text))
        .await
        .expect_err("nobody answers");

    assert_eq!(
        error.to_string(),
        "no LLM provider answered (primary: refused with 400; \
         fallback: server error 503, server error 503, server error 503)"
    );
    assert_eq!(primary.chat_requests().len(), 1, "a 400 is not retried");
    let logs = capture.text();
    assert!(logs.contains("fallback"), "{logs}");
    assert!(
        !logs.contains(member_text),
        "provider or member text reached the logs: {logs}"
    );
}

#[tokio::test]
async fn probe_reports_each_provider() {
    let healthy = FakeOpenAi::start().await;
    let locked = FakeOpenAi::start().await;
    locked.require_api_key("sk-right");
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let wrong_key = ProviderConfig {
        api_key: SecretString::from("sk-wrong"),
        ..locked.provider("locked", "b")
    };
    let gone = ProviderConfig {
        base_url: format!("http://127.0.0.1:{closed_port}/v1"),
        ..healthy.provider("gone", "c")
    };
    let chain = ProviderChain::new(
        vec![healthy.provider("healthy", "a"), wrong_key, gone],
        quick_retry(),
    );
    assert_eq!(
        chain.describe(),
        [
            ("healthy".into(), "a".into()),
            ("locked".into(), "b".into()),
            ("gone".into(), "c".into())
        ]
    );

    let reports = chain.probe().await;

    let outcomes: Vec<(&str, &str, Result<(), FailureKind>)> = reports
        .iter()
        .map(|r: &ProbeReport| (r.provider.as_str(), r.model.as_str(), r.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("healthy", "a", Ok(())),
            ("locked", "b", Err(FailureKind::Client(401))),
            ("gone", "c", Err(FailureKind::Unreachable)),
        ]
    );
    let probe = &healthy.chat_requests()[0].body;
    assert_eq!(probe["max_tokens"], 5);
    assert_eq!(prompt_text(probe), "Reply with OK.");
}
