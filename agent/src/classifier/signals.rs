//! Signals that are not in the text: how old the author's account is, how fast they post, and
//! whether the same text was just posted in several channels. The bot holds one `SignalTracker`
//! for all guilds; its memory is bounded.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

/// Discord's epoch (2015-01-01) in Unix milliseconds.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// When a Discord account was created, from its snowflake id.
pub fn account_created_ms(user_id: u64) -> u64 {
    (user_id >> 22) + DISCORD_EPOCH_MS
}

#[derive(Debug, Clone)]
pub struct SignalConfig {
    /// Messages an author may post in a burst in one guild before the rate signal fires.
    pub burst: NonZeroU32,
    /// One message of the burst comes back every `replenish`.
    pub replenish: Duration,
    /// Window and channel count for the cross-channel duplicate signal.
    pub duplicate_window_ms: u64,
    pub duplicate_channels: usize,
    /// Accounts younger than this are "new".
    pub new_account_ms: u64,
    /// Upper bound on tracked authors and tracked texts (oldest evicted first).
    pub max_entries: usize,
}

impl Default for SignalConfig {
    fn default() -> Self {
        SignalConfig {
            burst: NonZeroU32::new(8).expect("8 is not zero"),
            replenish: Duration::from_secs(3),
            duplicate_window_ms: 30_000,
            duplicate_channels: 3,
            new_account_ms: 7 * 24 * 3600 * 1000,
            max_entries: 50_000,
        }
    }
}

/// What the tracker observed for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Signals {
    pub account_age_ms: u64,
    pub new_account: bool,
    pub rate_exceeded: bool,
    /// Distinct channels this author posted the same text to within the window (this one included).
    pub duplicate_channels: usize,
    /// `duplicate_channels` reached the configured count.
    pub cross_channel_duplicate: bool,
}

type AuthorKey = (u64, u64);
type TextKey = (u64, u64, u64);

/// Keys are ids and an already-hashed text, chosen by us, not attacker-shaped strings, so a
/// cheap multiplicative hasher is enough (SipHash showed up in profiles).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

fn text_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[derive(Default)]
struct DuplicateWindow {
    /// Per (guild, author, text hash): the channels it was seen in and when.
    seen: HashMap<TextKey, Vec<(u64, u64)>, BuildHasherDefault<IdHasher>>,
    /// Observation order, for expiry and for evicting the oldest when full.
    order: VecDeque<(TextKey, u64)>,
}

impl DuplicateWindow {
    fn observe(&mut self, key: TextKey, channel: u64, now_ms: u64, cfg: &SignalConfig) -> usize {
        let horizon = now_ms.saturating_sub(cfg.duplicate_window_ms);
        while let Some(&(old_key, at)) = self.order.front() {
            let full = self.order.len() >= cfg.max_entries;
            if at >= horizon && !full {
                break;
            }
            self.order.pop_front();
            if let Some(entries) = self.seen.get_mut(&old_key) {
                entries.retain(|&(_, t)| t > at && t >= horizon);
                if entries.is_empty() {
                    self.seen.remove(&old_key);
                }
            }
        }
        let entries = self.seen.entry(key).or_default();
        entries.retain(|&(c, t)| c != channel && t >= horizon);
        // A handful of channels is all the signal needs; cap so one key cannot grow.
        if entries.len() >= 16 {
            entries.remove(0);
        }
        entries.push((channel, now_ms));
        self.order.push_back((key, now_ms));
        entries.len()
    }
}

type Limiter<C> =
    RateLimiter<AuthorKey, HashMapStateStore<AuthorKey>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Shared, thread-safe signal state. Generic over the rate limiter's clock so tests can use
/// `governor::clock::FakeRelativeClock`.
pub struct SignalTracker<C: Clock = DefaultClock> {
    /// Behind a lock only so a flood of distinct authors can be answered by starting afresh.
    limiter: RwLock<Limiter<C>>,
    quota: Quota,
    clock: C,
    observed: AtomicU64,
    duplicates: Mutex<DuplicateWindow>,
    config: SignalConfig,
}

impl SignalTracker<DefaultClock> {
    pub fn new(config: SignalConfig) -> Self {
        SignalTracker::with_clock(config, DefaultClock::default())
    }
}

impl Default for SignalTracker<DefaultClock> {
    fn default() -> Self {
        SignalTracker::new(SignalConfig::default())
    }
}

/// How often (in messages) expired rate-limit entries are swept; sweeping is O(authors).
const SWEEP_EVERY: u64 = 4096;

impl<C: Clock + Clone> SignalTracker<C> {
    pub fn with_clock(config: SignalConfig, clock: C) -> Self {
        let quota = Quota::with_period(config.replenish)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(config.burst);
        SignalTracker {
            limiter: RwLock::new(RateLimiter::hashmap_with_clock(quota, clock.clone())),
            quota,
            clock,
            observed: AtomicU64::new(0),
            duplicates: Mutex::new(DuplicateWindow::default()),
            config,
        }
    }

    pub fn config(&self) -> &SignalConfig {
        &self.config
    }

    /// Drop authors whose quota has fully recovered; if a flood of distinct authors still exceeds
    /// the bound, start a fresh limiter (forgetting recent rates beats unbounded memory).
    fn sweep(&self) {
        let mut limiter = self
            .limiter
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if limiter.len() > self.config.max_entries {
            limiter.retain_recent();
        }
        if limiter.len() > self.config.max_entries {
            *limiter = RateLimiter::hashmap_with_clock(self.quota, self.clock.clone());
        }
    }

    /// Record one message and report its signals. `normalized_text` is the classifier's matching
    /// form, so trivially varied copies ("FREE  nitro" / "free nitro") count as the same text.
    pub fn observe(
        &self,
        guild_id: u64,
        channel_id: u64,
        author_id: u64,
        normalized_text: &str,
        now_ms: u64,
    ) -> Signals {
        let account_age_ms = now_ms.saturating_sub(account_created_ms(author_id));
        let rate_exceeded = self
            .limiter
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .check_key(&(guild_id, author_id))
            .is_err();
        if self.observed.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep();
        }
        // Short texts ("hi", "thanks") are naturally repeated; only longer ones are tracked.
        let duplicate_channels = if normalized_text.chars().count() >= 12 {
            let key = (guild_id, author_id, text_hash(normalized_text));
            let mut window = self
                .duplicates
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            window.observe(key, channel_id, now_ms, &self.config)
        } else {
            1
        };
        Signals {
            account_age_ms,
            new_account: account_age_ms < self.config.new_account_ms,
            rate_exceeded,
            duplicate_channels,
            cross_channel_duplicate: duplicate_channels >= self.config.duplicate_channels,
        }
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn account_age_comes_from_the_snowflake() {
        // Discord's documented example id 175928847299117063 was created 2016-04-30T11:18:25.796Z.
        assert_eq!(
            account_created_ms(175_928_847_299_117_063),
            1_462_015_105_796
        );
    }

    #[test]
    fn the_same_text_in_three_channels_within_30s_is_flagged() {
        let t = SignalTracker::with_clock(SignalConfig::default(), FakeRelativeClock::default());
        let text = "check out my new server everyone";
        assert!(!t.observe(1, 10, 7, text, 1_000).cross_channel_duplicate);
        assert!(!t.observe(1, 11, 7, text, 10_000).cross_channel_duplicate);
        let s = t.observe(1, 12, 7, text, 25_000);
        assert!(s.cross_channel_duplicate);
        assert_eq!(s.duplicate_channels, 3);
        // Another author or another guild has its own count.
        assert!(!t.observe(2, 13, 7, text, 26_000).cross_channel_duplicate);
    }

    #[test]
    fn copies_outside_the_window_are_not_flagged() {
        let t = SignalTracker::with_clock(SignalConfig::default(), FakeRelativeClock::default());
        let text = "check out my new server everyone";
        t.observe(1, 10, 7, text, 0);
        t.observe(1, 11, 7, text, 40_000);
        assert!(!t.observe(1, 12, 7, text, 80_000).cross_channel_duplicate);
        // Reposting in the same channel is not cross-channel.
        t.observe(1, 20, 8, text, 0);
        t.observe(1, 20, 8, text, 1);
        assert_eq!(t.observe(1, 20, 8, text, 2).duplicate_channels, 1);
    }

    #[test]
    fn memory_stays_bounded() {
        let cfg = SignalConfig {
            max_entries: 100,
            ..SignalConfig::default()
        };
        let t = SignalTracker::with_clock(cfg, FakeRelativeClock::default());
        for i in 0..10_000u64 {
            t.observe(1, 1, i, &format!("a distinct message number {i}"), 5);
        }
        let w = t.duplicates.lock().expect("not poisoned");
        assert!(w.order.len() <= 100 && w.seen.len() <= 100);
        let authors = t.limiter.read().expect("not poisoned").len();
        assert!(
            authors <= 100 + SWEEP_EVERY as usize,
            "{authors} authors tracked"
        );
    }

    #[test]
    fn a_burst_beyond_the_quota_is_flagged_and_recovers_with_time() {
        let clock = FakeRelativeClock::default();
        let t = SignalTracker::with_clock(SignalConfig::default(), clock.clone());
        let flagged: Vec<bool> = (0..10)
            .map(|_| t.observe(1, 1, 9, "hello", 0).rate_exceeded)
            .collect();
        assert_eq!(flagged.iter().filter(|f| **f).count(), 2);
        clock.advance(Duration::from_secs(30));
        assert!(!t.observe(1, 1, 9, "hello", 0).rate_exceeded);
    }
}
