//! The comparison itself, with a word-hashing embedder standing in for the model (the real
//! model's behaviour is measured by `eval classifier`, not asserted here).

use std::sync::Arc;

use super::*;
use crate::classifier::{Classifier, ClassifierInput, Policy, SignalTracker};

/// Each word lights one of 64 dimensions: texts sharing words are close, others orthogonal.
struct Words;

impl SentenceEmbedder for Words {
    fn dimensions(&self) -> usize {
        64
    }
    fn embed(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0.0f32; 64];
        for w in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let w = w.to_lowercase();
            let h = w
                .bytes()
                .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
            v[(h % 64) as usize] += 1.0;
        }
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if n > 0.0 {
            v.iter_mut().for_each(|x| *x /= n);
        }
        v
    }
}

fn example(label: Label, text: &str) -> Example {
    Example {
        label,
        text: text.to_owned(),
    }
}

fn stage() -> Semantic {
    let examples = vec![
        example(Label::Flag(Category::SelfHarm), "no point going on anymore"),
        example(
            Label::Flag(Category::SelfHarm),
            "no point in anything anymore",
        ),
        example(
            Label::Flag(Category::SelfHarm),
            "going to disappear for good",
        ),
        example(Label::Benign, "how do I reset my password"),
        example(Label::Benign, "where is the config file"),
        example(Label::Benign, "thanks that fixed it"),
    ];
    Semantic::new(
        Arc::new(Words),
        &examples,
        Params {
            k: 3,
            near_floor: 0.2,
            near_full: 0.6,
            weight: 1.0,
        },
    )
}

#[test]
fn the_shipped_examples_parse_and_cover_every_category_they_are_used_for() {
    let examples = parse_examples(EXAMPLES).expect("valid");
    for c in [
        Category::SelfHarm,
        Category::HumanRequest,
        Category::SecurityReport,
        Category::LegalThreat,
        Category::Billing,
        Category::Frustration,
        Category::PromptInjection,
        Category::Scam,
        Category::Spam,
        Category::Abuse,
    ] {
        let n = examples
            .iter()
            .filter(|e| e.label == Label::Flag(c))
            .count();
        assert!(n >= 25, "{c}: only {n} examples");
    }
    let benign = examples.iter().filter(|e| e.label == Label::Benign).count();
    assert!(benign >= 200, "only {benign} benign examples");
}

#[test]
fn a_bad_example_line_is_named() {
    let err = parse_examples(
        "{\"category\":\"benign\",\"text\":\"hi\"}\n{\"category\":\"nope\",\"text\":\"x\"}",
    )
    .unwrap_err();
    assert!(err.contains("line 2") && err.contains("nope"), "{err}");
}

#[test]
fn a_message_near_a_category_scores_it_and_an_ordinary_one_does_not() {
    let s = stage();
    let crisis = s.score("there is no point going on anymore", &[]);
    assert!(crisis.get(Category::SelfHarm) > 0.6, "{crisis:?}");
    let ordinary = s.score("how do I reset the config file", &[]);
    assert!(ordinary.get(Category::SelfHarm) < 0.2, "{ordinary:?}");
}

#[test]
fn far_from_every_example_scores_nothing_even_when_the_neighbours_are_flagged() {
    let s = stage();
    // Shares one word with a crisis example and nothing else: the closest example is far.
    let v = s.score("pizza anymore tomorrow evening maybe friends movie", &[]);
    assert!(v.get(Category::SelfHarm) < 0.3, "{v:?}");
}

#[test]
fn text_without_any_vector_scores_nothing() {
    let s = stage();
    assert!(s.score("", &[]).ranked().is_empty());
}

#[test]
fn a_guilds_examples_vote_with_the_shipped_ones() {
    let s = stage();
    let text = "selling cheap accounts dm me now";
    assert_eq!(s.score(text, &[]).get(Category::Custom), 0.0);
    let guild = vec![GuildExample {
        label: Label::Flag(Category::Custom),
        vector: s.embed("cheap accounts for sale dm me"),
    }];
    assert!(s.score(text, &guild).get(Category::Custom) > 0.5);
}

#[test]
fn meaning_alone_only_makes_a_second_stage_candidate_even_in_an_exempt_channel() {
    let classifier = Classifier::with_model(None).with_semantic(stage());
    let mut policy = Policy::default();
    policy.update(|c| c.exempt_channels.push(9)).unwrap();
    let input = ClassifierInput {
        channel_id: 9,
        ..ClassifierInput::text("honestly no point going on anymore")
    };
    let v = classifier.classify(&input, &policy, &SignalTracker::default(), 0);
    assert!(v.action.is_allow(), "{v:?}");
    assert_eq!(v.second_stage_candidate, Some(Category::SelfHarm), "{v:?}");
}

#[test]
fn a_weak_rule_cue_that_meaning_confirms_escalates() {
    let legal = |t: &str| example(Label::Flag(Category::LegalThreat), t);
    let examples = vec![
        legal("my lawyer will contact you about this"),
        legal("my lawyer will contact your company"),
        legal("expect my lawyer to contact you"),
        example(Label::Benign, "how do I reset my password"),
        example(Label::Benign, "thanks that fixed it"),
    ];
    let params = Params {
        k: 3,
        near_floor: 0.2,
        near_full: 0.6,
        weight: 0.85,
    };
    let text = "my lawyer will contact you about this soon";
    let plain = Classifier::with_model(None).classify(
        &ClassifierInput::text(text),
        &Policy::default(),
        &SignalTracker::default(),
        0,
    );
    assert!(
        plain.action.is_allow(),
        "the rule alone is a weak cue: {plain:?}"
    );
    let with_meaning = Classifier::with_model(None)
        .with_semantic(Semantic::new(Arc::new(Words), &examples, params))
        .classify(
            &ClassifierInput::text(text),
            &Policy::default(),
            &SignalTracker::default(),
            0,
        );
    assert_eq!(
        with_meaning.action.category(),
        Some(Category::LegalThreat),
        "{with_meaning:?}"
    );
}

#[test]
fn a_guild_example_in_its_policy_blocks_what_its_keywords_would_miss() {
    let classifier = Classifier::with_model(None).with_semantic(stage());
    let mut policy = Policy::default();
    policy
        .add_example("custom", "who wants to swap server boosts")
        .unwrap();
    let v = classifier.classify(
        &ClassifierInput::text("Who wants to swap server boosts?"),
        &policy,
        &SignalTracker::default(),
        0,
    );
    assert_eq!(v.action.category(), Some(Category::Custom), "{v:?}");
    let plain = classifier.classify(
        &ClassifierInput::text("Who wants to swap server boosts?"),
        &Policy::default(),
        &SignalTracker::default(),
        0,
    );
    assert!(plain.action.is_allow(), "{plain:?}");
}

#[test]
fn guild_examples_are_validated() {
    let mut p = Policy::default();
    assert!(p.add_example("no_such_category", "x").is_err());
    assert!(p.add_example("scam", "   ").is_err());
    assert!(p.add_example("scam", &"x".repeat(501)).is_err());
    for i in 0..50 {
        p.add_example("scam", &format!("example {i}")).unwrap();
    }
    let err = p.add_example("scam", "one too many").unwrap_err();
    assert!(err.to_string().contains("limit is 50"), "{err}");
    assert!(p.remove_example("scam", "example 3").unwrap());
    assert!(!p.remove_example("scam", "example 3").unwrap());
    let json = p.to_json();
    assert!(json.contains("example 4"));
    assert_eq!(Policy::from_json(&json).unwrap().config(), p.config());
}
