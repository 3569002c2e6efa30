//! The words Zulip's help centre shows for its macros: tab labels (`{tab|desktop-web}`) and UI
//! paths (`{settings_tab|notifications}`, `{relative|gear|stats}`). The help centre expands
//! them into steps ("Go to Personal settings → Notifications"); unknown names are humanised
//! from their slugs so no braces reach the index.

/// Tab names whose label is not just the slug with capitals.
const TAB_LABELS: &[(&str, &str)] = &[
    ("desktop-web", "Desktop/Web"),
    ("ios", "iOS"),
    ("mac", "macOS"),
    ("zulip-cloud", "Zulip Cloud"),
    ("stream", "From a stream view"),
    ("not-stream", "From other views"),
    ("stream-compose", "Stream message"),
    ("dm-compose", "Direct message"),
    ("logged-in", "If you are logged in"),
    ("logged-out", "If you are logged out"),
    ("mm-default", "Default installation"),
    ("mm-docker", "Docker"),
    ("mm-gitlab-omnibus", "GitLab Omnibus"),
    ("mm-cloud", "Cloud instance"),
    (
        "mm-self-hosting-cloud-export",
        "Self-hosting (cloud export)",
    ),
    ("onelogin", "OneLogin"),
    ("azuread", "AzureAD"),
];

/// Settings tabs: (slug, settings menu, tab name as shown on the left of that menu).
const SETTINGS_TABS: &[(&str, &str, &str)] = &[
    ("profile", PERSONAL, "Profile"),
    ("account-and-privacy", PERSONAL, "Account & privacy"),
    ("preferences", PERSONAL, "Preferences"),
    ("notifications", PERSONAL, "Notifications"),
    ("your-bots", PERSONAL, "Bots"),
    ("alert-words", PERSONAL, "Alert words"),
    ("uploaded-files", PERSONAL, "Uploaded files"),
    ("topics", PERSONAL, "Topics"),
    ("muted-users", PERSONAL, "Muted users"),
    ("organization-profile", ORGANIZATION, "Organization profile"),
    (
        "organization-settings",
        ORGANIZATION,
        "Organization settings",
    ),
    (
        "organization-permissions",
        ORGANIZATION,
        "Organization permissions",
    ),
    (
        "default-user-settings",
        ORGANIZATION,
        "Default user settings",
    ),
    ("emoji-settings", ORGANIZATION, "Custom emoji"),
    ("auth-methods", ORGANIZATION, "Authentication methods"),
    ("user-groups-admin", ORGANIZATION, "User groups"),
    ("user-list-admin", ORGANIZATION, "Users"),
    ("deactivated-users-admin", ORGANIZATION, "Deactivated users"),
    ("bot-list-admin", ORGANIZATION, "Bots"),
    ("default-streams-list", ORGANIZATION, "Default streams"),
    ("linkifier-settings", ORGANIZATION, "Linkifiers"),
    ("playground-settings", ORGANIZATION, "Code playgrounds"),
    (
        "profile-field-settings",
        ORGANIZATION,
        "Custom profile fields",
    ),
    ("invites-list-admin", ORGANIZATION, "Invitations"),
    ("data-exports-admin", ORGANIZATION, "Data exports"),
];
const PERSONAL: &str = "Personal settings";
const ORGANIZATION: &str = "Organization settings";

/// Items of the gear menu (`{relative|gear|…}`).
const GEAR_ITEMS: &[(&str, &str)] = &[
    ("stats", "Usage statistics"),
    ("settings", "Personal settings"),
    ("organization-settings", "Organization settings"),
    ("manage-streams", "Manage streams"),
    ("integrations", "Integrations"),
    ("about-zulip", "About Zulip"),
    ("plans", "Plans and pricing"),
    ("billing", "Billing"),
];

/// Views in the left sidebar (`{relative|message|…}`).
const MESSAGE_VIEWS: &[(&str, &str)] = &[
    ("recent", "Recent conversations"),
    ("all", "All messages"),
    ("starred", "Starred messages"),
    ("drafts", "Drafts"),
    ("scheduled", "Scheduled messages"),
];

fn lookup<'a>(table: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// `via-organization-settings` → "Via organization settings".
pub(super) fn humanise(slug: &str) -> String {
    let words = slug.replace(['-', '_'], " ");
    let mut chars = words.trim().chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub(super) fn tab_label(name: &str) -> String {
    let name = name.trim();
    if let Some(label) = lookup(TAB_LABELS, name) {
        return label.to_string();
    }
    if let Some(version) = name.strip_prefix('v').filter(|v| v.parse::<u32>().is_ok()) {
        return format!("Zulip Server {version}.0+");
    }
    humanise(name)
}

/// "Personal settings → Notifications".
fn settings_path(tab: &str) -> String {
    let tab = tab.trim();
    if let Some((_, menu, name)) = SETTINGS_TABS.iter().find(|(slug, _, _)| *slug == tab) {
        return format!("{menu} → {name}");
    }
    let menu = if tab.ends_with("-admin") || tab.starts_with("organization-") {
        ORGANIZATION
    } else {
        PERSONAL
    };
    let name = tab.strip_suffix("-admin").unwrap_or(tab);
    format!("{menu} → {}", humanise(name))
}

/// A macro's words for use inside a sentence, or `None` when `inner` (the text between the
/// braces) is not a macro.
pub(super) fn macro_words(inner: &str) -> Option<String> {
    let mut parts = inner.split('|').map(str::trim);
    let name = parts.next()?;
    let args: Vec<&str> = parts.collect();
    let is_slug = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if args.is_empty() || !is_slug(name) || !args.iter().all(|a| is_slug(a)) {
        return None;
    }
    Some(match (name, args.as_slice()) {
        ("settings_tab", [tab]) => settings_path(tab),
        ("tab", [tab]) => tab_label(tab),
        ("relative", ["gear", item]) => format!(
            "Gear menu → {}",
            lookup(GEAR_ITEMS, item).map_or_else(|| humanise(item), str::to_string)
        ),
        ("relative", ["stream", item]) => format!("Manage streams → {}", stream_tab(item)),
        ("relative", ["message", item]) => message_view(item),
        _ => std::iter::once(name)
            .chain(args.iter().copied())
            .filter(|w| *w != "relative")
            .map(humanise)
            .collect::<Vec<_>>()
            .join(" → "),
    })
}

fn stream_tab(item: &str) -> String {
    format!("{} streams", humanise(item))
}

fn message_view(item: &str) -> String {
    lookup(MESSAGE_VIEWS, item).map_or_else(|| humanise(item), str::to_string)
}

/// A macro standing alone on a line is a step of the instructions around it; it becomes the
/// step the help centre shows, as an ordered-list item so the author's "1." steps continue it.
pub(super) fn macro_step(inner: &str) -> Option<String> {
    let words = macro_words(inner)?;
    let args: Vec<&str> = inner.split('|').map(str::trim).collect();
    Some(match args.as_slice() {
        ["settings_tab", _] => format!("1. Go to {words}."),
        ["relative", "gear", item] => format!(
            "1. Click the gear icon in the upper right corner, and select {}.",
            lookup(GEAR_ITEMS, item).map_or_else(|| humanise(item), str::to_string)
        ),
        ["relative", "stream", item] => format!(
            "1. Click the gear icon in the upper right corner, select Manage streams, and click {}.",
            stream_tab(item)
        ),
        ["relative", "message", item] => {
            format!("1. Click {} in the left sidebar.", message_view(item))
        }
        ["tab", _] => return None,
        _ => format!("1. Go to {words}."),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macros_read_as_the_help_centre_shows_them() {
        assert_eq!(
            macro_step("settings_tab|notifications").as_deref(),
            Some("1. Go to Personal settings → Notifications.")
        );
        assert_eq!(
            macro_words("settings_tab|organization-permissions").as_deref(),
            Some("Organization settings → Organization permissions")
        );
        assert_eq!(
            macro_words("settings_tab|new-thing-admin").as_deref(),
            Some("Organization settings → New thing")
        );
        assert!(
            macro_step("relative|gear|stats")
                .is_some_and(|s| s.contains("gear icon") && s.contains("Usage statistics"))
        );
        assert!(macro_step("relative|stream|all").is_some_and(|s| s.contains("All streams")));
        assert_eq!(
            macro_step("relative|message|drafts").as_deref(),
            Some("1. Click Drafts in the left sidebar.")
        );
        assert_eq!(
            macro_words("frobnicate|left-panel").as_deref(),
            Some("Frobnicate → Left panel")
        );
        assert_eq!(macro_words("not a macro"), None);
        assert_eq!(macro_words("id"), None);
    }

    #[test]
    fn tab_labels_are_named_or_humanised() {
        assert_eq!(tab_label("desktop-web"), "Desktop/Web");
        assert_eq!(tab_label("mobile"), "Mobile");
        assert_eq!(
            tab_label("via-organization-settings"),
            "Via organization settings"
        );
        assert_eq!(tab_label("v6"), "Zulip Server 6.0+");
    }
}
