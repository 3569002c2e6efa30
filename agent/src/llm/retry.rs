//! When to try a provider again: backoff with full jitter, `Retry-After`, and the cool-down
//! that skips a provider after it failed too many times in a row.

use std::time::{Duration, Instant, SystemTime};

/// How hard the chain tries each provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Failed requests per provider and call before moving on to the next provider (one is
    /// always sent). A provider refusing a request shape (a structured-output dialect, the
    /// token-limit field) and being asked in the next one does not count.
    pub attempts_per_provider: u32,
    /// Backoff before the first retry; doubled for each further one, with full jitter.
    pub base_delay: Duration,
    /// Longest wait before a retry. A `Retry-After` asking for longer moves on to the next
    /// provider instead.
    pub max_delay: Duration,
    /// Failed requests in a row after which a provider is skipped; 0 never skips.
    pub failures_before_cool_down: u32,
    /// How long a provider is skipped; then it is tried again and one success ends it.
    pub cool_down: Duration,
}

impl Default for RetryPolicy {
    /// A member is waiting for the answer: two tries per provider, short waits, and a provider
    /// that keeps failing is left alone for a minute so fallbacks answer without delay.
    fn default() -> Self {
        RetryPolicy {
            attempts_per_provider: 2,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
            failures_before_cool_down: 5,
            cool_down: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Wait before retry number `retry` (0 for the first): uniform in
    /// `[0, min(max_delay, base_delay * 2^retry)]`.
    pub(super) fn backoff(&self, retry: u32, rng: &mut fastrand::Rng) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max_delay);
        let ceiling_us = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rng.u64(0..=ceiling_us))
    }
}

/// A `Retry-After` value: delay-seconds, or an HTTP date measured from `now`. A date in the past
/// means "now"; anything unreadable is ignored.
pub(super) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    // Some servers send fractions; the RFC says integer, but the meaning is clear.
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// One provider's recent record.
#[derive(Debug, Default)]
pub(super) struct CoolDown {
    failures_in_a_row: u32,
    until: Option<Instant>,
}

impl CoolDown {
    pub(super) fn is_cooling(&self, now: Instant) -> bool {
        self.until.is_some_and(|until| now < until)
    }

    pub(super) fn succeeded(&mut self) {
        *self = CoolDown::default();
    }

    /// Counts a failed request; true when it starts (or, after a failed trial, restarts) a
    /// cool-down.
    pub(super) fn failed(&mut self, now: Instant, policy: &RetryPolicy) -> bool {
        self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
        let threshold = policy.failures_before_cool_down;
        if threshold == 0 || self.failures_in_a_row < threshold {
            return false;
        }
        self.until = Some(now + policy.cool_down);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts_per_provider: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            failures_before_cool_down: 2,
            cool_down: Duration::from_secs(30),
        }
    }

    #[test]
    fn backoff_is_jittered_under_a_doubling_ceiling_capped_at_max_delay() {
        let policy = policy();
        let mut rng = fastrand::Rng::with_seed(7);
        for (retry, ceiling) in [(0, 100), (1, 200), (2, 350), (30, 350), (u32::MAX, 350)] {
            let delays: Vec<Duration> = (0..200).map(|_| policy.backoff(retry, &mut rng)).collect();
            let ceiling = Duration::from_millis(ceiling);
            assert!(delays.iter().all(|d| *d <= ceiling), "retry {retry}");
            // Full jitter: the spread covers most of the range, not just its top.
            assert!(delays.iter().any(|d| *d < ceiling / 4), "retry {retry}");
            assert!(delays.iter().any(|d| *d > ceiling * 3 / 4), "retry {retry}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:42 GMT", now),
            Some(Duration::from_secs(42))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn a_provider_cools_down_after_failures_in_a_row_and_one_success_ends_it() {
        let policy = policy();
        let start = Instant::now();
        let mut record = CoolDown::default();
        assert!(!record.failed(start, &policy));
        record.succeeded();
        assert!(
            !record.failed(start, &policy),
            "the success reset the count"
        );
        assert!(record.failed(start, &policy));
        assert!(record.is_cooling(start + Duration::from_secs(29)));
        assert!(!record.is_cooling(start + Duration::from_secs(30)));

        // The trial after the cool-down fails: straight back to cooling.
        let later = start + Duration::from_secs(31);
        assert!(record.failed(later, &policy));
        assert!(record.is_cooling(later + Duration::from_secs(1)));

        record.succeeded();
        assert!(!record.is_cooling(later + Duration::from_secs(1)));
    }

    #[test]
    fn zero_failures_before_cool_down_never_cools() {
        let policy = RetryPolicy {
            failures_before_cool_down: 0,
            ..policy()
        };
        let now = Instant::now();
        let mut record = CoolDown::default();
        assert!((0..100).all(|_| !record.failed(now, &policy)));
        assert!(!record.is_cooling(now));
    }
}
