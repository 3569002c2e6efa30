//! The one builder that wires store, knowledge base, classifier, agent and clock into a
//! pipeline, for `supportbot run`, the terminal commands (`ask`, `chat`, `demo`), `eval
//! answers` and the tests alike.

use std::num::NonZeroU32;
use std::sync::Arc;

use agent::classifier::{Classifier, OpenAiSecondStage, SecondStage};
use agent::llm::{ProviderChain, RetryPolicy};
use agent::{Agent, AgentSettings};
use anyhow::Context as _;
use knowledge::KnowledgeBase;
use store::Store;
use tracing::info;

use crate::clock::Clock;
use crate::config::Config;
use crate::pipeline::{Pipeline, PipelineSettings};
use crate::retriever::KnowledgeRetriever;

pub struct Services {
    pub store: Store,
    pub knowledge: Arc<KnowledgeBase>,
    pub agent: Arc<Agent>,
    pub pipeline: Arc<Pipeline>,
}

impl Services {
    /// Opens the database (migrating it) and the knowledge base, and builds the pipeline.
    pub async fn open(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Services> {
        let store = Store::open(&config.database_settings())
            .await
            .context("opening the database")?;
        info!(backend = %store.backend(), "database ready");
        let knowledge = KnowledgeBase::open(config.knowledge_config()?, store.clone())
            .await
            .context("opening the knowledge base")?;
        let classifier = crate::semantic::classifier(config).await;
        Self::build(
            config,
            store,
            Arc::new(knowledge),
            clock,
            config.agent_settings(),
            classifier,
        )
    }

    /// Wires the pipeline over an open store and knowledge base (`crate::semantic::classifier`
    /// builds the classifier the bot runs).
    pub fn build(
        config: &Config,
        store: Store,
        knowledge: Arc<KnowledgeBase>,
        clock: Arc<dyn Clock>,
        agent_settings: AgentSettings,
        classifier: Classifier,
    ) -> anyhow::Result<Services> {
        let settings = pipeline_settings(config)?;
        let second_stage = config.second_stage().map(|c| {
            info!(model = %c.model, "classifier second stage on");
            Arc::new(OpenAiSecondStage::new(c)) as Arc<dyn SecondStage>
        });
        let providers = config.providers();
        let chain = (!providers.is_empty()).then(|| {
            for p in &providers {
                info!(provider = %p.name, model = %p.model, "answer model configured");
            }
            Arc::new(ProviderChain::new(providers, RetryPolicy::default()))
        });
        if chain.is_none() {
            info!("no answer model configured: answers quote the docs (extractive mode)");
        }
        let retriever = Arc::new(KnowledgeRetriever::new(Arc::clone(&knowledge)));
        let agent = Arc::new(Agent::new(retriever, chain, agent_settings));
        let pipeline = Arc::new(Pipeline::new(
            store.clone(),
            clock,
            &settings,
            classifier,
            second_stage,
            Arc::clone(&agent),
        ));
        Ok(Services {
            store,
            knowledge,
            agent,
            pipeline,
        })
    }
}

pub fn pipeline_settings(config: &Config) -> anyhow::Result<PipelineSettings> {
    Ok(PipelineSettings {
        workers: config.pipeline.max_in_flight,
        guild_queue: config.pipeline.guild_queue,
        guild_in_flight: config.pipeline.guild_in_flight,
        per_member_per_minute: NonZeroU32::new(config.pipeline.per_member_per_minute)
            .context("pipeline.per_member_per_minute must be at least 1")?,
        per_guild_per_minute: NonZeroU32::new(config.pipeline.per_guild_per_minute)
            .context("pipeline.per_guild_per_minute must be at least 1")?,
        // Excerpts are message text: they follow its period, not the audit entry's.
        audit_excerpt_days: config.retention.message_days,
        trace_days: config.retention.trace_days,
        daily_token_budget: config.agent.daily_token_budget,
        master_key: config.master_key()?.map(Arc::new),
        stream_answers: config.agent.stream,
    })
}
