//! Time as a parameter, so tests decide what "now" is and when a wait is over.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

pub type Wait<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Resolves once `now()` has reached `deadline` (at once when it already has).
    fn sleep_until(&self, deadline: DateTime<Utc>) -> Wait<'_>;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Wait<'_> {
        Box::pin(async move {
            if let Ok(left) = (deadline - Utc::now()).to_std() {
                tokio::time::sleep(left).await;
            }
        })
    }
}

/// A clock that moves only when told, for tests. Waits end when it is moved past them.
#[derive(Debug)]
pub struct ManualClock(watch::Sender<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(watch::Sender::new(start))
    }

    pub fn set(&self, to: DateTime<Utc>) {
        self.0.send_replace(to);
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.0.send_modify(|now| *now += by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.borrow()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Wait<'_> {
        let mut now = self.0.subscribe();
        Box::pin(async move {
            // The sender lives as long as the clock, which outlives this borrow.
            let _ = now.wait_for(|now| *now >= deadline).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_wait_ends_when_the_clock_passes_its_deadline() {
        let start = Utc::now();
        let clock = ManualClock::new(start);
        let deadline = start + chrono::Duration::seconds(30);
        let mut wait = clock.sleep_until(deadline);
        assert!(futures_poll_once(&mut wait).await.is_none(), "not yet");
        clock.advance(chrono::Duration::seconds(29));
        assert!(futures_poll_once(&mut wait).await.is_none(), "still not");
        clock.advance(chrono::Duration::seconds(1));
        wait.await;
        clock.sleep_until(deadline).await;
    }

    /// Polls a future once without waiting.
    async fn futures_poll_once(wait: &mut Wait<'_>) -> Option<()> {
        tokio::time::timeout(std::time::Duration::ZERO, wait.as_mut())
            .await
            .ok()
    }
}
