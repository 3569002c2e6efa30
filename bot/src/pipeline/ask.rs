//! The agent stage: the conversation so far and the guild's remaining token budget go to the
//! agent, "typing" shows while it works, a model's reply is shown as it is written (`stream`),
//! and the trace is stored (metadata only in the logs).

use agent::{Progress, Question, Speaker, Turn};
use secrecy::SecretString;
use store::{Conversation, MessageRole};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::stream::Shown;
use super::{Delivery, HISTORY_MESSAGES, Inbound, Pipeline, PipelineError};

impl Pipeline {
    /// Runs the agent with the conversation so far, showing "typing" meanwhile and a model's
    /// reply as it is written (when streaming is on), and stores its trace. Returns the answer
    /// and the message the reply was shown as, if it was.
    pub(super) async fn ask_agent<D: Delivery>(
        &self,
        inbound: &Inbound,
        conversation: &Conversation,
        delivery: &D,
    ) -> Result<(agent::Answer, Option<Shown>), PipelineError> {
        let guild = inbound.guild_id as i64;
        let typing_in = conversation
            .thread_id
            .map_or(inbound.channel_id, |t| t as u64);
        let mut earlier: Vec<store::StoredMessage> = self
            .store
            .conversation_messages(guild, conversation.id)
            .await?
            .into_iter()
            .filter(|m| m.discord_message_id != Some(inbound.message_id as i64))
            .filter(|m| !m.content.is_empty())
            .collect();
        let skip = earlier.len().saturating_sub(HISTORY_MESSAGES);
        earlier.drain(..skip);
        let history: Vec<Turn> = earlier
            .into_iter()
            .map(|m| Turn {
                speaker: match m.role {
                    MessageRole::Member => Speaker::Member,
                    MessageRole::Bot => Speaker::Bot,
                },
                text: m.content,
            })
            .collect();
        let streams = self.settings.stream_answers && self.agent.uses_model();
        let (snapshot, snapshots) = watch::channel(String::new());
        let tell = |text: &str| {
            snapshot.send_replace(text.to_owned());
        };
        let finished = CancellationToken::new();
        let deciding = async {
            let progress: Option<Progress<'_>> = streams.then_some(&tell);
            let answer = self.decide(inbound, &history, progress).await;
            finished.cancel();
            answer
        };
        let showing = async {
            if !streams {
                return None;
            }
            self.show_progress(inbound, conversation, snapshots, &finished, delivery)
                .await
        };
        let (answer, shown) = {
            let typing = async {
                // Discord shows "typing" for ~10 s per call; renew it while the agent works.
                loop {
                    let _ = delivery.typing(typing_in).await;
                    tokio::time::sleep(std::time::Duration::from_secs(8)).await;
                }
            };
            tokio::select! {
                both = async { tokio::join!(deciding, showing) } => both,
                _ = typing => unreachable!("the typing loop never ends"),
            }
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                if let Some(early) = &shown {
                    self.withdraw(early, delivery).await;
                }
                return Err(e);
            }
        };
        self.store_trace(inbound, Some(conversation.id), &answer)
            .await;
        Ok((answer, shown))
    }

    /// The agent's decision on `inbound` after `history`, with what the guild allows and chose:
    /// the tokens it has left today, its own API key, its language; `progress` is told a
    /// model's reply as it is written. The caller stores the trace.
    pub(super) async fn decide(
        &self,
        inbound: &Inbound,
        history: &[Turn],
        progress: Option<Progress<'_>>,
    ) -> Result<agent::Answer, PipelineError> {
        let guild = inbound.guild_id as i64;
        let tokens_left = self.tokens_left(guild).await?;
        let own_key = self.guild_llm_key(guild).await;
        let language = self.guilds.get(inbound.guild_id).await?.settings.language();
        let question = Question {
            guild_id: inbound.guild_id,
            text: &inbound.content,
            history,
            tokens_left,
            api_key: own_key.as_ref(),
            language,
        };
        Ok(self.agent.answer_streamed(&question, progress).await)
    }

    /// The guild's own LLM API key, read from the store for every question so a replaced or
    /// cleared key stops being used at once. A key that cannot be opened is reported (never
    /// its value) and the instance's key is used.
    async fn guild_llm_key(&self, guild: i64) -> Option<SecretString> {
        let master = self.settings.master_key.as_ref()?;
        if !self.agent.uses_model() {
            return None;
        }
        match self
            .store
            .guild_secret(guild, store::LLM_API_KEY, master)
            .await
        {
            Ok(key) => key,
            Err(e) => {
                warn!(guild, error = %e, "the guild's own LLM API key is unusable; using the instance's");
                None
            }
        }
    }

    /// Tokens the guild may still spend today, `None` when unlimited.
    async fn tokens_left(&self, guild: i64) -> Result<Option<u64>, PipelineError> {
        let budget = self.settings.daily_token_budget;
        if budget == 0 || !self.agent.uses_model() {
            return Ok(None);
        }
        let now = self.clock.now();
        let midnight = now
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc();
        let used = self.store.tokens_used_since(guild, midnight).await?;
        Ok(Some(budget.saturating_sub(used)))
    }

    /// Keeps the decision's trace for `trace_days`. A failure to store it is logged, never
    /// allowed to stop the answer.
    pub(super) async fn store_trace(
        &self,
        inbound: &Inbound,
        conversation_id: Option<i64>,
        answer: &agent::Answer,
    ) {
        let t = &answer.trace;
        let mut payload = serde_json::to_value(t).unwrap_or_default();
        if let Some(map) = payload.as_object_mut() {
            map.insert("language".into(), answer.language.code().into());
        }
        // Postgres JSON cannot hold U+0000, which member text may contain.
        let payload: serde_json::Value =
            serde_json::from_str(&payload.to_string().replace("\\u0000", "\\ufffd"))
                .unwrap_or_default();
        let now = self.clock.now();
        let stored = self
            .store
            .insert_trace(&store::NewTrace {
                guild_id: inbound.guild_id as i64,
                conversation_id,
                message_id: Some(inbound.message_id as i64),
                kind: t.action,
                model: t.model.as_deref(),
                latency_ms: t.latency_ms as i64,
                tokens_in: i64::from(t.prompt_tokens),
                tokens_out: i64::from(t.completion_tokens),
                payload: &payload,
                created_at: now,
                expires_at: now + chrono::Duration::days(self.settings.trace_days.into()),
            })
            .await;
        info!(
            guild_id = inbound.guild_id,
            message_id = inbound.message_id,
            mode = t.mode,
            action = t.action,
            model = t.model.as_deref().unwrap_or("-"),
            provider = t.provider.as_deref().unwrap_or("-"),
            latency_ms = t.latency_ms,
            prompt_tokens = t.prompt_tokens,
            completion_tokens = t.completion_tokens,
            failures = t.failures.len(),
            "agent decided"
        );
        if let Some(provider) = t.provider.as_deref() {
            self.metrics
                .model_call(provider, t.latency_ms, t.prompt_tokens, t.completion_tokens);
        }
        if let Err(e) = stored {
            warn!(guild_id = inbound.guild_id, error = %e, "could not store the agent trace");
        }
    }
}
