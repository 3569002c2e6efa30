//! Discord's rate limits on a faster clock: per-route buckets keyed by the route and its major
//! parameter (channel, guild, or webhook), each answer carrying `X-RateLimit-*` headers; a 429
//! with `retry_after` when a bucket runs dry or the global limit is reached; and the count of
//! invalid requests (401, 403, 429) that gets a bot's address banned at 10,000 in 10 minutes.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::spec::Operation;

/// Discord's shape (a few requests per bucket and window, 50 a second overall) with windows
/// short enough for a test suite.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// Requests one bucket takes per window.
    pub per_bucket: u32,
    pub window: Duration,
    /// Requests per second across every route.
    pub global_per_second: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            per_bucket: 5,
            window: Duration::from_millis(500),
            global_per_second: 50,
        }
    }
}

/// Invalid requests Discord tolerates from one address per window before banning it.
pub const INVALID_LIMIT: usize = 10_000;
pub const INVALID_WINDOW: Duration = Duration::from_secs(600);

/// One 429 the fake answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimited {
    /// `X-RateLimit-Bucket` and the major parameter, or `global`.
    pub bucket: String,
    pub global: bool,
}

pub(super) type Headers = Vec<(&'static str, String)>;

pub(super) enum Verdict {
    Pass(Headers),
    Limited {
        headers: Headers,
        retry_after: f64,
        global: bool,
    },
}

struct Window {
    started: Instant,
    used: u32,
}

impl Window {
    /// Takes one request if the window has room, starting a new window when the old one ended.
    fn take(&mut self, now: Instant, limit: u32, length: Duration) -> Result<u32, Duration> {
        if now.duration_since(self.started) >= length {
            self.started = now;
            self.used = 0;
        }
        let left = length.saturating_sub(now.duration_since(self.started));
        if self.used >= limit {
            return Err(left);
        }
        self.used += 1;
        Ok(limit - self.used)
    }

    fn left(&self, now: Instant, length: Duration) -> Duration {
        length.saturating_sub(now.duration_since(self.started))
    }
}

pub(super) struct Limiter {
    pub limits: RateLimits,
    buckets: HashMap<String, Window>,
    global: Window,
    /// The next request gets a global 429 with this `retry_after`.
    forced_global: Option<Duration>,
    invalid: VecDeque<Instant>,
    pub answered_429: Vec<RateLimited>,
    pub banned: bool,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter {
            limits: RateLimits::default(),
            buckets: HashMap::new(),
            global: Window {
                started: Instant::now(),
                used: 0,
            },
            forced_global: None,
            invalid: VecDeque::new(),
            answered_429: Vec::new(),
            banned: false,
        }
    }
}

/// A short, stable stand-in for Discord's opaque bucket hash of a route.
fn bucket_hash(method: &str, op: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in method.bytes().chain(op.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn seconds(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

impl Limiter {
    pub fn force_global(&mut self, retry_after: Duration) {
        self.forced_global = Some(retry_after);
    }

    /// Counts one request against the global limit and its route's bucket.
    pub fn check(&mut self, method: &str, op: &Operation, now: Instant) -> Verdict {
        // Interaction callbacks are not bound by the global limit or a bucket.
        if op.id == "create_interaction_response" {
            return Verdict::Pass(Vec::new());
        }
        let global_limited = match self.forced_global.take() {
            Some(d) => Some(d),
            None => self
                .global
                .take(now, self.limits.global_per_second, Duration::from_secs(1))
                .err(),
        };
        if let Some(left) = global_limited {
            self.answered_429.push(RateLimited {
                bucket: "global".into(),
                global: true,
            });
            return Verdict::Limited {
                headers: vec![
                    ("retry-after", seconds(left)),
                    ("x-ratelimit-global", "true".into()),
                    ("x-ratelimit-scope", "global".into()),
                ],
                retry_after: left.as_secs_f64(),
                global: true,
            };
        }
        let hash = bucket_hash(method, &op.id);
        let major = ["channel_id", "guild_id", "webhook_id"]
            .iter()
            .map(|p| op.param(p))
            .find(|v| !v.is_empty())
            .unwrap_or_default();
        let key = format!("{hash}:{major}");
        let (limit, length) = (self.limits.per_bucket, self.limits.window);
        let window = self.buckets.entry(key.clone()).or_insert(Window {
            started: now,
            used: 0,
        });
        let taken = window.take(now, limit, length);
        let left = window.left(now, length);
        let reset = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is past 1970")
            + left;
        let mut headers = vec![
            ("x-ratelimit-limit", limit.to_string()),
            ("x-ratelimit-remaining", taken.unwrap_or(0).to_string()),
            ("x-ratelimit-reset", seconds(reset)),
            ("x-ratelimit-reset-after", seconds(left)),
            ("x-ratelimit-bucket", hash),
        ];
        match taken {
            Ok(_) => Verdict::Pass(headers),
            Err(left) => {
                self.answered_429.push(RateLimited {
                    bucket: key,
                    global: false,
                });
                headers.push(("retry-after", seconds(left)));
                headers.push(("x-ratelimit-scope", "user".into()));
                Verdict::Limited {
                    headers,
                    retry_after: left.as_secs_f64(),
                    global: false,
                }
            }
        }
    }

    /// Counts an answer toward the invalid-request ban; returns true the first time the count
    /// reaches Discord's limit.
    pub fn record(&mut self, status: u16, now: Instant) -> bool {
        if !matches!(status, 401 | 403 | 429) {
            return false;
        }
        self.invalid.push_back(now);
        while self
            .invalid
            .front()
            .is_some_and(|t| now.duration_since(*t) > INVALID_WINDOW)
        {
            self.invalid.pop_front();
        }
        if self.invalid.len() >= INVALID_LIMIT && !self.banned {
            self.banned = true;
            return true;
        }
        false
    }

    /// Invalid requests in the last ten minutes.
    pub fn invalid_count(&self) -> usize {
        self.invalid.len()
    }
}
