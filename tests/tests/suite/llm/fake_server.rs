//! The fake server itself, through async-openai's typed client: a protocol real clients read,
//! the refusals real servers give, and embeddings (also through the knowledge crate).

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs,
};
use async_openai::types::embeddings::CreateEmbeddingRequestArgs;
use futures_util::StreamExt;
use knowledge::dense::{RemoteConfig, RemoteEmbedder};
use serde_json::{Value, json};
use tests::fake_openai::{FakeOpenAi, embed};

fn openai_client(fake: &FakeOpenAi) -> Client<OpenAIConfig> {
    agent::tls::install_crypto_provider();
    Client::with_config(
        OpenAIConfig::new()
            .with_api_base(fake.base_url())
            .with_api_key("sk-test"),
    )
}

#[tokio::test]
async fn the_fake_speaks_the_protocol_async_openai_expects() {
    let fake = FakeOpenAi::start().await;
    let client = openai_client(&fake);
    let request = CreateChatCompletionRequestArgs::default()
        .model("fake-model")
        .messages([ChatCompletionRequestUserMessage::from("Hello").into()])
        .build()
        .unwrap();

    let reply = client
        .chat()
        .create(request.clone())
        .await
        .expect("a typed completion");
    assert_eq!(reply.choices[0].message.content.as_deref(), Some("OK"));
    // With async-openai's `byot` feature on (the agent uses it), `create_stream` sends the
    // request as built, so it must ask for a stream itself.
    let mut streamed_request = request;
    streamed_request.stream = Some(true);
    let mut stream = client
        .chat()
        .create_stream(streamed_request)
        .await
        .expect("a typed stream");
    let mut streamed = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("every chunk parses");
        if let Some(delta) = chunk
            .choices
            .first()
            .and_then(|c| c.delta.content.as_deref())
        {
            streamed.push_str(delta);
        }
    }
    assert_eq!(streamed, "OK");
    let models = client.models().list().await.expect("a model list");
    assert_eq!(models.data[0].id, "fake-model");
    assert_eq!(fake.requests()[0].authorization(), Some("Bearer sk-test"));
}

#[tokio::test]
async fn the_fake_refuses_what_a_real_server_refuses() {
    let fake = FakeOpenAi::start().await;
    let client = openai_client(&fake);
    let user = json!([{"role": "user", "content": "hi"}]);
    let refusals = [
        (json!({"model": "m", "messages": []}), Some("messages")),
        (json!({"messages": user}), None),
        (
            json!({"model": "m", "messages": [{"role": "robot", "content": "hi"}]}),
            Some("messages.[0].role"),
        ),
        (
            json!({"model": "m", "messages": user, "tool_choice": "auto"}),
            Some("tool_choice"),
        ),
        (
            json!({"model": "m", "messages": user, "response_format": {"type": "json_object"}}),
            Some("messages"),
        ),
        (
            json!({"model": "m", "messages": user,
                   "response_format": {"type": "json_schema", "json_schema": {"name": "has spaces", "schema": {}}}}),
            Some("response_format.json_schema.name"),
        ),
    ];
    for (body, param) in refusals {
        let error = client
            .chat()
            .create_byot::<Value, Value>(body.clone())
            .await
            .expect_err("refused");
        let OpenAIError::ApiError(error) = error else {
            panic!("{body}: not an API error: {error}");
        };
        assert_eq!(error.status_code.as_u16(), 400, "{body}");
        assert_eq!(error.api_error.param.as_deref(), param, "{body}");
    }
    fake.set_models(&["only-this"]);
    let error = client
        .chat()
        .create_byot::<Value, Value>(json!({"model": "other", "messages": user}))
        .await
        .expect_err("unknown model");
    assert!(matches!(error, OpenAIError::ApiError(e) if e.status_code.as_u16() == 404));
}

#[tokio::test]
async fn embeddings_are_deterministic_per_text_and_batched_in_order() {
    let fake = FakeOpenAi::start().await;
    fake.set_embedding_dimensions(16);
    let client = openai_client(&fake);
    let texts = ["reset my password", "reset my password", "monthly billing"];
    let request = CreateEmbeddingRequestArgs::default()
        .model("fake-embedding")
        .input(texts.to_vec())
        .build()
        .unwrap();

    let response = client
        .embeddings()
        .create(request)
        .await
        .expect("embeddings");

    let vectors: Vec<&Vec<f32>> = response.data.iter().map(|e| &e.embedding).collect();
    assert_eq!(
        response.data.iter().map(|e| e.index).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(vectors.iter().all(|v| v.len() == 16));
    assert_eq!(vectors[0], vectors[1]);
    assert_ne!(vectors[0], vectors[2]);
    assert_eq!(*vectors[2], embed("monthly billing", 16));

    let shorter = CreateEmbeddingRequestArgs::default()
        .model("fake-embedding")
        .input("reset my password")
        .dimensions(8u32)
        .build()
        .unwrap();
    let response = client
        .embeddings()
        .create(shorter)
        .await
        .expect("embeddings");
    assert_eq!(response.data[0].embedding.len(), 8);
}

#[tokio::test]
async fn the_knowledge_crates_dense_embedder_works_against_the_fake() {
    let fake = FakeOpenAi::start().await;
    let mut config = RemoteConfig::new(fake.base_url(), "fake-embedding", 24);
    config.request_dimensions = true;
    config.batch_size = 2;
    let embedder = RemoteEmbedder::new(config).expect("an embedder");
    let texts: Vec<String> = ["install", "upgrade the server", "backups"]
        .map(String::from)
        .to_vec();

    let vectors = embedder.embed(&texts).await.expect("vectors");

    let expected: Vec<Vec<f32>> = texts.iter().map(|t| embed(t, 24)).collect();
    assert_eq!(vectors, expected);
    let requests: Vec<Value> = fake.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(requests.len(), 2, "two batches");
    assert!(requests.iter().all(|r| r["dimensions"] == 24));
}
