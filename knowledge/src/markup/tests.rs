//! What rendering does to each dialect's constructs, on small hand-written pages.

use pulldown_cmark::{Event, Parser, Tag};

use super::*;

fn text(md: &str) -> String {
    render(md).body
}

/// The code blocks a Markdown parser finds, as their text.
fn code_blocks(md: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for event in Parser::new(md) {
        match event {
            Event::Start(Tag::CodeBlock(_)) => current = Some(String::new()),
            Event::End(pulldown_cmark::TagEnd::CodeBlock) => blocks.extend(current.take()),
            Event::Text(t) => {
                if let Some(c) = current.as_mut() {
                    c.push_str(&t);
                }
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn yaml_and_toml_front_matter_is_removed_and_its_title_kept() {
    let r = render("---\ntitle: \"Pi-hole Origins\"\ndescription: x\n---\n\nBody text.\n");
    assert_eq!(r.title.as_deref(), Some("Pi-hole Origins"));
    assert_eq!(r.body.trim(), "Body text.");
    let r = render("+++\ntitle = 'Install'\ndraft = false\n+++\nSteps.\n");
    assert_eq!(r.title.as_deref(), Some("Install"));
    assert_eq!(r.body.trim(), "Steps.");
    // A thematic break followed by prose is not metadata.
    let r = render("---\nJust a rule and prose.\n---\n");
    assert_eq!(r.title, None);
    assert!(r.body.contains("Just a rule and prose."));
}

#[test]
fn mkdocs_admonitions_become_a_label_and_their_dedented_body() {
    let md = "Intro.\n\n!!! warning \"Back up first\"\n    Copy `/etc/pihole` somewhere safe.\n\n        sudo cp -r /etc/pihole /backup\n\n!!! tip \"\"\n\n    Tips have no title.\n\n??? \"Raw database instructions\"\n    Use sqlite3.\n\n???+ note\n    Open by default.\n\nAfter.\n";
    let out = text(md);
    assert!(
        out.contains("**Warning: Back up first**\n\nCopy `/etc/pihole` somewhere safe."),
        "{out}"
    );
    assert!(out.contains("**Tip:**\n\nTips have no title."), "{out}");
    assert!(
        out.contains("**Raw database instructions:**\n\nUse sqlite3."),
        "{out}"
    );
    assert!(out.contains("**Note:**\n\nOpen by default."), "{out}");
    assert!(!out.contains("!!!") && !out.contains("???"), "{out}");
    assert_eq!(code_blocks(&out), vec!["sudo cp -r /etc/pihole /backup\n"]);
    assert!(out.contains("\nAfter.\n"));
}

#[test]
fn content_tabs_become_labelled_sections_and_keep_their_code() {
    let md = "=== \"Docker Compose\"\n    Provide the password in the Compose file.\n\n    ```yaml\n    environment:\n      PASSWORD: '{{ secret }}'\n    ```\n\n=== \"Docker run\"\n    Set it inline.\n";
    let out = text(md);
    assert!(
        out.contains("**Docker Compose:**\n\nProvide the password in the Compose file."),
        "{out}"
    );
    assert!(out.contains("**Docker run:**\n\nSet it inline."), "{out}");
    assert!(!out.contains("==="), "{out}");
    assert_eq!(
        code_blocks(&out),
        vec!["environment:\n  PASSWORD: '{{ secret }}'\n"],
        "code inside a tab is dedented but untouched"
    );
}

#[test]
fn tabs_nested_in_an_admonition_are_both_rendered() {
    let md = "???+ example \"Authentication with password\"\n\n    === \"bash / cURL\"\n\n        ```bash\n        curl -X POST https://pi.hole/api/auth\n        ```\n";
    let out = text(md);
    assert!(
        out.contains("**Example: Authentication with password**"),
        "{out}"
    );
    assert!(out.contains("**bash / cURL:**"), "{out}");
    assert_eq!(
        code_blocks(&out),
        vec!["curl -X POST https://pi.hole/api/auth\n"]
    );
}

#[test]
fn zulip_tabs_macros_icons_and_variables_read_as_the_help_centre_shows_them() {
    let md = "# Star a message\n\n{start_tabs}\n\n{tab|desktop-web}\n\n{settings_tab|notifications}\n\n1. Click the **star** (<i class=\"fa fa-star-o\"></i>) icon.\n\n{tab|mobile}\n\n1. Long press on a message.\n\n{tab|via-user-card}\n\n1. Press <kbd>Ctrl</kbd> + <kbd>K</kbd>.\n\n{end_tabs}\n\n!!! keyboard_tip \"\"\n\n    Use <kbd>S</kbd> to star.\n\n!!! warn \"\"\n    Contact ({{ support_email }}).\n\n{start_tabs}\n\n{relative|gear|stats}\n\n{relative|stream|all}\n\n{end_tabs}\n";
    let out = text(md);
    for expected in [
        "**Desktop/Web:**",
        "1. Go to Personal settings → Notifications.",
        "1. Click the **star** icon.",
        "**Mobile:**",
        "**Via user card:**",
        "1. Press Ctrl + K.",
        "**Keyboard tip:**\n\nUse S to star.",
        "**Warning:**\n\nContact (support email).",
        "Usage statistics",
        "All streams",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    for raw in [
        "{start_tabs}",
        "{end_tabs}",
        "{tab|",
        "{settings_tab|",
        "{relative|",
        "!!!",
        "{{",
        "<i ",
        "<kbd>",
    ] {
        assert!(!out.contains(raw), "{raw:?} survived in:\n{out}");
    }
}

#[test]
fn docusaurus_admonitions_and_mdx_tabs_are_labelled() {
    let md = "import Tabs from '@theme/Tabs';\n\n:::note Before you start\n\nStop the service.\n\n:::\n\n:::tip[Faster]\nUse the cache.\n:::\n\n<Tabs>\n<TabItem value=\"apt\" label=\"Debian\">\n\nRun apt.\n\n</TabItem>\n</Tabs>\n";
    let out = text(md);
    assert!(
        out.contains("**Note: Before you start**\n\nStop the service."),
        "{out}"
    );
    assert!(out.contains("**Tip: Faster**\n\nUse the cache."), "{out}");
    assert!(
        out.contains("**Debian:**") && out.contains("Run apt."),
        "{out}"
    );
    for raw in [":::", "import ", "<Tabs", "<TabItem", "</TabItem>"] {
        assert!(!out.contains(raw), "{raw:?} survived in:\n{out}");
    }
}

#[test]
fn comments_attribute_lists_footnotes_and_raw_html_become_plain_text() {
    let md = "<!-- markdownlint-disable MD046 -->\n## Setting the password {: #set-password }\n\nSee the docs. <!-- inline note -->\n{: .class }\n\n### Why DoH? [^guide]\n\nText.\n\n<p class=\"text-center\">\n    <img src=\"logo.svg\" alt=\"Pi-hole\">\n    <br>\n    <strong>Network-wide ad blocking</strong>\n</p>\n\n[^guide]: Based on a guide by Ben.\n\n*[DNS]: Domain Name System\n\n<!--\nmulti-line\ndraft\n-->\nEnd.\n";
    let out = text(md);
    assert!(
        out.contains("## Setting the password {#set-password}"),
        "{out}"
    );
    assert!(out.contains("### Why DoH?\n"), "{out}");
    assert!(out.contains("Pi-hole Network-wide ad blocking"), "{out}");
    assert!(out.contains("Based on a guide by Ben."), "{out}");
    for raw in [
        "<!--",
        "{:",
        "[^",
        "<p",
        "<strong>",
        "markdownlint",
        "draft",
        "*[DNS]",
    ] {
        assert!(!out.contains(raw), "{raw:?} survived in:\n{out}");
    }
}

#[test]
fn code_blocks_are_left_exactly_as_written() {
    let md = "```yaml\nurl: '{{ api_url }}/auth'\n!!! not an admonition\n<!-- kept -->\n{settings_tab|notifications}\n```\n";
    assert_eq!(text(md), md);
}

#[test]
fn include_directives_that_were_not_resolved_leave_no_trace() {
    let md = "{!missing.md!}\n\n--8<-- \"snippet.md\"\n\n--8<--\na.md\nb.md\n--8<--\n\n{% include \"x.md\" %}\n\nimport Partial from './_partial.mdx';\n\n<Partial />\n\nKept.\n";
    assert_eq!(text(md).trim(), "Kept.");
}

#[test]
fn origin_markers_survive_rendering_and_are_found_in_raw_html() {
    let md = format!(
        "!!! tip \"\"\n    {}\n    Included words.\n    {}\n\n1. {}\n   A step.\n   {}\n",
        origin_open("help/include/tip.md"),
        origin_close(),
        origin_open("help/include/step.md"),
        origin_close()
    );
    let out = text(&md);
    assert_eq!(
        origin_marks(&out),
        vec![
            OriginMark::Open("help/include/tip.md"),
            OriginMark::Close,
            OriginMark::Open("help/include/step.md"),
            OriginMark::Close
        ]
    );
    let (code, marks) = split_origin_marks(&out);
    assert_eq!(marks.len(), 4);
    assert!(!code.contains("supportbot-origin"));
}
