//! The classifier as the bot runs it: rules and the n-gram model always, plus the semantic stage
//! when the local sentence model is present, fed by a static token table distilled from that
//! model (cached between starts; see `knowledge::local_model::StaticTable`).

use std::sync::Arc;
use std::time::Instant;

use agent::classifier::{Classifier, Semantic, SentenceEmbedder};
use knowledge::local_model::StaticTable;
use tracing::{info, warn};

use crate::config::Config;

/// The static table behind the classifier's embedder trait.
pub struct TableEmbedder(pub StaticTable);

impl SentenceEmbedder for TableEmbedder {
    fn dimensions(&self) -> usize {
        self.0.dimensions()
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        self.0.embed(text)
    }
}

/// The full sentence model behind the same trait: far slower per message (milliseconds), for
/// comparing the static table against the model it was distilled from.
pub struct FullModelEmbedder(pub knowledge::local_model::LocalEmbedder);

impl SentenceEmbedder for FullModelEmbedder {
    fn dimensions(&self) -> usize {
        self.0.dimensions()
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        self.0
            .embed_blocking(text)
            .unwrap_or_else(|_| vec![0.0; self.0.dimensions()])
    }
}

/// multilingual-e5-small behind the same trait: slower still than the English full model, for
/// measuring what a multilingual encoder adds (`eval classifier --semantic-multilingual`).
pub struct E5Embedder(pub knowledge::local_model::e5::E5Model);

impl SentenceEmbedder for E5Embedder {
    fn dimensions(&self) -> usize {
        self.0.dimensions()
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        if text.trim().is_empty() {
            return vec![0.0; self.0.dimensions()];
        }
        self.0
            .embed(&[text])
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_else(|| vec![0.0; self.0.dimensions()])
    }
}

/// The static table for this configuration, when the local model is found and the semantic
/// stage is on. A model that is set but broken is reported and the stage stays off: the rules
/// still protect the guilds.
pub async fn static_table(config: &Config) -> Option<StaticTable> {
    let dir = match config.classifier_model() {
        Ok(Some(dir)) => dir,
        Ok(None) => {
            info!("classifier semantic stage off (no local sentence model)");
            return None;
        }
        Err(e) => {
            warn!(error = %e, "classifier semantic stage off");
            return None;
        }
    };
    let cache = config.cache_dir();
    let started = Instant::now();
    let opened = tokio::task::spawn_blocking(move || StaticTable::open(&dir, &cache))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    match opened {
        Ok(table) => {
            info!(
                ms = started.elapsed().as_millis() as u64,
                "classifier semantic stage on"
            );
            Some(table)
        }
        Err(error) => {
            warn!(%error, "classifier semantic stage off");
            None
        }
    }
}

/// The classifier for this configuration.
pub async fn classifier(config: &Config) -> Classifier {
    let classifier = Classifier::new();
    match static_table(config).await {
        Some(table) => classifier.with_semantic(Semantic::shipped(Arc::new(TableEmbedder(table)))),
        None => classifier,
    }
}

#[cfg(test)]
mod tests {
    use agent::classifier::{Category, ClassifierInput, Policy, SignalTracker};

    use super::*;

    fn config(semantic: bool) -> Config {
        let mut config = Config {
            data_dir: std::env::temp_dir().join("supportbot-semantic-tests-no-data-dir"),
            ..Config::default()
        };
        config.classifier.semantic = semantic;
        config
    }

    #[tokio::test]
    async fn the_stage_is_off_unless_asked_for_and_then_a_guild_example_blocks_by_meaning() {
        assert!(!Config::default().classifier.semantic);
        assert!(!classifier(&config(false)).await.has_semantic());

        let classifier = classifier(&config(true)).await;
        assert!(
            classifier.has_semantic(),
            "the local sentence model is needed: {}",
            knowledge::local_model::INSTALL_HINT
        );
        let mut policy = Policy::default();
        policy
            .add_example(
                "custom",
                "selling my old account with rare skins, dm offers",
            )
            .unwrap();
        let verdict = classifier.classify(
            &ClassifierInput::text("anyone want to buy an account with rare skins? dm me"),
            &policy,
            &SignalTracker::default(),
            0,
        );
        assert_eq!(
            verdict.action.category(),
            Some(Category::Custom),
            "{verdict:?}"
        );
        let ordinary = classifier.classify(
            &ClassifierInput::text("how do I change the language of the bot's replies?"),
            &policy,
            &SignalTracker::default(),
            0,
        );
        assert!(ordinary.action.is_allow(), "{ordinary:?}");
        // Calling the same kind of message ordinary in the guild's examples takes it back.
        policy
            .add_example(
                "benign",
                "anyone want to buy an account with rare skins? dm me",
            )
            .unwrap();
        let allowed = classifier.classify(
            &ClassifierInput::text("anyone want to buy an account with rare skins? dm me"),
            &policy,
            &SignalTracker::default(),
            0,
        );
        assert!(allowed.action.is_allow(), "{allowed:?}");
    }
}
