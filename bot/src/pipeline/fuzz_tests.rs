//! Property tests for output hygiene: whatever a model or a document hands the bot, what it
//! posts fits Discord's limits, keeps every character of the answer, never pings everyone and
//! never leaves a code fence open across messages.

use proptest::prelude::*;

use super::deliver::{MAX_LINKS, MESSAGE_LIMIT, clean, thread_name};
use super::split::split_for_discord;

/// Answer-shaped text: prose, paragraphs, fences (closed or not, with long or odd opening
/// lines), long lines, links, mentions and wide or combining characters.
fn answer_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => "[a-z]{1,12}[.,]? ",
        2 => Just("\n\n".to_string()),
        1 => Just("\n".to_string()),
        1 => "[a-z]{0,8}".prop_map(|lang| format!("\n```{lang}\n")),
        1 => Just("\n```\n".to_string()),
        1 => Just("\n~~~\n".to_string()),
        1 => (1usize..2_600).prop_map(|n| format!("\n```{}\n", "x".repeat(n))),
        1 => (1usize..5_000).prop_map(|n| "y".repeat(n)),
        1 => (1usize..3_000).prop_map(|n| "é".repeat(n)),
        1 => (1usize..900).prop_map(|n| "line\n".repeat(n)),
        1 => "[a-z]{1,10}".prop_map(|p| format!(" https://docs.example/{p} ")),
        1 => Just("[guide](https://docs.example/g) ".to_string()),
        1 => Just("@everyone @here ".to_string()),
        1 => Just("🦀\u{200D}\u{0301} ".to_string()),
        1 => "\\PC{1,12}",
    ];
    prop::collection::vec(piece, 0..60).prop_map(|p| p.concat())
}

/// Whether `needle`'s characters appear in `haystack` in order (others may sit between).
fn is_subsequence(
    needle: impl Iterator<Item = char>,
    mut haystack: impl Iterator<Item = char>,
) -> bool {
    needle.into_iter().all(|c| haystack.any(|h| h == c))
}

/// Whether a code fence is still open after the last line: a line starting with backticks opens
/// one, a line of at least as many backticks and nothing else closes it.
fn fence_open_at_end(part: &str) -> bool {
    let mut open: Option<usize> = None;
    for line in part.lines() {
        let t = line.trim();
        let ticks = t.chars().take_while(|&c| c == '`').count();
        match open {
            Some(n) if ticks >= n && ticks == t.chars().count() => open = None,
            Some(_) => {}
            None if ticks >= 3 => open = Some(ticks),
            None => {}
        }
    }
    open.is_some()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn every_part_fits_keeps_the_text_and_closes_its_fences(text in answer_text()) {
        let parts = split_for_discord(&text);
        prop_assert!(!parts.is_empty());
        for p in &parts {
            prop_assert!(p.chars().count() <= MESSAGE_LIMIT, "{} chars", p.chars().count());
            // An unterminated fence in the answer may stay open in its last part only.
            if !std::ptr::eq(p, parts.last().unwrap()) {
                prop_assert!(!fence_open_at_end(p), "a fence left open mid-answer: {p:?}");
            }
        }
        let visible = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<Vec<_>>();
        let sent: String = parts.concat();
        prop_assert!(
            is_subsequence(visible(&text).into_iter(), visible(&sent).into_iter()),
            "text was lost"
        );
    }

    #[test]
    fn cleaned_text_pings_no_one_and_links_at_most_five(text in answer_text()) {
        let out = clean(&text);
        prop_assert!(!out.contains("@everyone") && !out.contains("@here"));
        prop_assert!(out.matches("<https://").count() <= MAX_LINKS);
    }

    #[test]
    fn a_thread_name_is_never_empty_or_too_long(text in answer_text()) {
        let name = thread_name(&text);
        let n = name.chars().count();
        prop_assert!((1..=100).contains(&n), "{n} chars");
        prop_assert!(!name.chars().any(char::is_control));
        prop_assert_eq!(name.trim(), name.as_str());
    }
}
