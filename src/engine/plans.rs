//! The recall-plan cache: one shared copy of each recall plan in use, so that a parked
//! call points to its plan instead of carrying a copy of it.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use crate::config::RecallPlan;

/// The cache is first pruned when it holds this many plans.
const PRUNE_AT: usize = 64;

/// The plans in use, by [`plan_key`]. Kept under the engine's lock.
pub(super) struct Plans {
    by_key: HashMap<u64, Vec<Arc<RecallPlan>>>,
    count: usize,
    /// The plan shared last: most parks in a row are under the same one.
    last: Option<Arc<RecallPlan>>,
    /// Plans no call uses are pruned when `count` reaches this.
    prune_at: usize,
}

impl Default for Plans {
    fn default() -> Self {
        Plans { by_key: HashMap::new(), count: 0, last: None, prune_at: PRUNE_AT }
    }
}

impl Plans {
    /// The one copy of `plan`, shared by every call parked under it.
    pub(super) fn share(&mut self, plan: &RecallPlan) -> Arc<RecallPlan> {
        if let Some(p) = self.last.as_ref().filter(|p| ***p == *plan) {
            return p.clone();
        }
        let p = self.find(plan);
        self.last = Some(p.clone());
        p
    }

    fn find(&mut self, plan: &RecallPlan) -> Arc<RecallPlan> {
        let key = plan_key(plan);
        if let Some(p) = self.by_key.get(&key).and_then(|v| v.iter().find(|p| ***p == *plan)) {
            return p.clone();
        }
        if self.count >= self.prune_at {
            // Drop the plans no parked call uses any more (configurations reloaded away).
            self.by_key.retain(|_, v| {
                v.retain(|p| Arc::strong_count(p) > 1);
                !v.is_empty()
            });
            self.count = self.by_key.values().map(Vec::len).sum();
            self.prune_at = (self.count * 2).max(PRUNE_AT);
        }
        let p = Arc::new(plan.clone());
        self.by_key.entry(key).or_default().push(p.clone());
        self.count += 1;
        p
    }
}

/// A hash of every field of `plan`, to find its shared copy.
fn plan_key(p: &RecallPlan) -> u64 {
    let mut h = DefaultHasher::new();
    (p.policy.name(), p.recall_time, p.ring_time, p.retry_interval, p.attempts, p.alert_wait).hash(&mut h);
    for d in [&p.ring_group, &p.final_destination] {
        d.as_ref().map(|d| (&d.extension, &d.dialplan, &d.context)).hash(&mut h);
    }
    p.alternate_user.hash(&mut h);
    h.finish()
}
