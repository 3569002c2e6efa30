//! Fair admission to the expensive stages (the second-stage model and the agent): a bounded
//! queue per guild, served round-robin by a fixed set of workers, each guild running at most a
//! few jobs at once. A flood in one guild fills that guild's queue and no other: once it is
//! full, new work from that guild is refused (the caller counts it) instead of piling up.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Once};

use tokio::sync::Notify;
use tokio_util::task::TaskTracker;

pub(super) type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Why a job was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// The guild's queue holds as many jobs as it may.
    Full,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Worker tasks: jobs running at once across all guilds.
    pub workers: usize,
    /// Jobs one guild may have waiting.
    pub queue: usize,
    /// Jobs one guild may have running at once, so one guild cannot hold every worker.
    pub per_guild: usize,
}

pub(super) struct Scheduler {
    limits: Limits,
    state: Mutex<State>,
    wake: Notify,
    started: Once,
}

#[derive(Default)]
struct State {
    guilds: HashMap<u64, GuildQueue>,
    /// Guilds with waiting jobs, in serving order.
    ring: VecDeque<u64>,
    closed: bool,
}

#[derive(Default)]
struct GuildQueue {
    waiting: VecDeque<Job>,
    running: usize,
}

impl Scheduler {
    pub(super) fn new(limits: Limits) -> Scheduler {
        Scheduler {
            limits: Limits {
                workers: limits.workers.max(1),
                queue: limits.queue.max(1),
                per_guild: limits.per_guild.max(1),
            },
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            started: Once::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job` for `guild`, starting the workers on first use.
    pub(super) fn push(
        self: &Arc<Self>,
        tracker: &TaskTracker,
        guild: u64,
        job: Job,
    ) -> Result<(), Refused> {
        self.started.call_once(|| {
            for _ in 0..self.limits.workers {
                tracker.spawn(Arc::clone(self).work());
            }
        });
        {
            let mut guard = self.lock();
            let state = &mut *guard;
            let queue = state.guilds.entry(guild).or_default();
            if queue.waiting.len() >= self.limits.queue {
                return Err(Refused::Full);
            }
            queue.waiting.push_back(job);
            if queue.waiting.len() == 1 {
                state.ring.push_back(guild);
            }
        }
        self.wake.notify_waiters();
        Ok(())
    }

    /// Jobs waiting (not running) for `guild`.
    pub(super) fn depth(&self, guild: u64) -> usize {
        self.lock()
            .guilds
            .get(&guild)
            .map_or(0, |q| q.waiting.len())
    }

    /// The `n` guilds with the most waiting jobs, deepest first.
    pub(super) fn deepest(&self, n: usize) -> Vec<(u64, usize)> {
        let mut depths: Vec<(u64, usize)> = self
            .lock()
            .guilds
            .iter()
            .filter(|(_, q)| !q.waiting.is_empty())
            .map(|(g, q)| (*g, q.waiting.len()))
            .collect();
        depths.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        depths.truncate(n);
        depths
    }

    /// Workers finish what is queued, then stop.
    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_waiters();
    }

    /// The next job in round-robin order from a guild under its running limit.
    fn take(&self) -> Option<(u64, Job)> {
        let mut guard = self.lock();
        let state = &mut *guard;
        for _ in 0..state.ring.len() {
            let guild = state.ring.pop_front()?;
            let queue = state
                .guilds
                .get_mut(&guild)
                .expect("a guild in the ring has a queue");
            if queue.running >= self.limits.per_guild {
                state.ring.push_back(guild);
                continue;
            }
            let job = queue
                .waiting
                .pop_front()
                .expect("a guild in the ring has a waiting job");
            queue.running += 1;
            if !queue.waiting.is_empty() {
                state.ring.push_back(guild);
            }
            return Some((guild, job));
        }
        None
    }

    fn finished(&self, guild: u64) {
        {
            let mut guard = self.lock();
            let state = &mut *guard;
            if let Some(queue) = state.guilds.get_mut(&guild) {
                queue.running -= 1;
                if queue.running == 0 && queue.waiting.is_empty() {
                    state.guilds.remove(&guild);
                }
            }
        }
        self.wake.notify_waiters();
    }

    async fn work(self: Arc<Self>) {
        loop {
            // Registered before looking, so a push between the look and the wait still wakes us.
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some((guild, job)) = self.take() {
                // A job of its own: a panic in one message ends that message, not the worker.
                let _ = tokio::spawn(job).await;
                self.finished(guild);
                continue;
            }
            {
                let state = self.lock();
                if state.closed && state.ring.is_empty() {
                    return;
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::Semaphore;

    use super::*;

    fn held(gate: &Arc<Semaphore>, done: &Arc<AtomicUsize>) -> Job {
        let gate = Arc::clone(gate);
        let done = Arc::clone(done);
        Box::pin(async move {
            let _permit = gate.acquire().await.expect("the gate stays open");
            done.fetch_add(1, Ordering::SeqCst);
        })
    }

    #[tokio::test]
    async fn a_full_guild_queue_refuses_and_other_guilds_still_run() {
        let tracker = TaskTracker::new();
        let scheduler = Arc::new(Scheduler::new(Limits {
            workers: 3,
            queue: 2,
            per_guild: 1,
        }));
        let stuck = Arc::new(Semaphore::new(0));
        let a_done = Arc::new(AtomicUsize::new(0));
        let mut refused = 0;
        for _ in 0..10 {
            if scheduler.push(&tracker, 1, held(&stuck, &a_done)).is_err() {
                refused += 1;
            }
        }
        // One may already be running; at most `queue` wait, the rest are refused.
        assert!(refused >= 7, "refused {refused}");
        let open = Arc::new(Semaphore::new(100));
        let b_done = Arc::new(AtomicUsize::new(0));
        scheduler
            .push(&tracker, 2, held(&open, &b_done))
            .expect("guild 2's queue is empty");
        while b_done.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(scheduler.depth(1) > 0, "guild 1 still waits");
        assert_eq!(a_done.load(Ordering::SeqCst), 0);
        assert_eq!(scheduler.deepest(5)[0].0, 1);

        stuck.add_permits(100);
        scheduler.close();
        tracker.close();
        tracker.wait().await;
        assert_eq!(a_done.load(Ordering::SeqCst), 10 - refused);
        assert_eq!(scheduler.depth(1), 0);
    }
}
