//! What the agent decided to do with a member's question.

/// A source the answer drew on, shown to the member as a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citation {
    pub title: String,
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Reply {
        text: String,
        citations: Vec<Citation>,
    },
    Ask {
        question: String,
    },
    Handoff {
        reason: String,
    },
    Escalate {
        reason: String,
    },
}

impl Decision {
    /// Short name for logs and analytics (never the text itself).
    pub fn kind(&self) -> &'static str {
        match self {
            Decision::Reply { .. } => "reply",
            Decision::Ask { .. } => "ask",
            Decision::Handoff { .. } => "handoff",
            Decision::Escalate { .. } => "escalate",
        }
    }
}

/// The agent until retrieval lands: acknowledges every question so the member knows it was
/// received and a human will see the thread.
#[derive(Debug, Clone, Default)]
pub struct Acknowledger;

impl Acknowledger {
    pub fn respond(&self, _question: &str) -> Decision {
        Decision::Reply {
            text: "Thanks for your question! I've opened this thread for it, and the support team \
                   will follow up here."
                .into(),
            citations: Vec::new(),
        }
    }
}
