//! What a run may spend on models: tokens, dollars and wall time, shared by every call the
//! run makes (agents pass it down). A call is admitted before it is made, with its worst case
//! reserved and its answer capped to what is left, so a budget is never overspent when that
//! can be known beforehand; the call then settles what it really used.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::chat::{ModelPrice, Usage};
use crate::{Clock, Error, Result};

/// The limits of a run; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BudgetLimits {
    /// Tokens of every call together, requests and answers.
    pub tokens: Option<u64>,
    /// Dollars of every call together.
    pub cost: Option<f64>,
    /// Time from the run's start.
    pub wall_time: Option<Duration>,
    /// Tokens of one answer (a cap put on each call).
    pub call_tokens: Option<u32>,
}

impl BudgetLimits {
    /// Checks that the budget can be spent: a cost, when set, is a finite number of dollars,
    /// 0 or more.
    pub fn validate(&self) -> Result<()> {
        if self.cost.is_some_and(|c| !c.is_finite() || c < 0.0) {
            return Err(Error::validation(
                "budget.cost",
                "must be a number of dollars, 0 or more",
            ));
        }
        Ok(())
    }
}

/// What a run has spent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Spent {
    /// Tokens settled.
    pub tokens: u64,
    /// Dollars settled.
    pub cost: f64,
    /// Calls settled.
    pub calls: u32,
}

/// What a call will send, for its admission.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallEstimate {
    /// Tokens of the request (an estimate before the provider counts).
    pub prompt_tokens: u32,
    /// The answer cap the caller asked for.
    pub max_tokens: Option<u32>,
    /// The model's price, where known.
    pub price: Option<ModelPrice>,
}

/// The budget of one run. Cheap to clone; clones share what is spent.
#[derive(Clone)]
pub struct RunBudget {
    inner: Arc<Inner>,
}

struct Inner {
    limits: BudgetLimits,
    clock: Arc<dyn Clock>,
    started: DateTime<Utc>,
    ledger: Mutex<Ledger>,
}

/// Spent plus what admitted calls hold in reserve.
#[derive(Debug, Default)]
struct Ledger {
    spent: Spent,
    reserved_tokens: u64,
    reserved_cost: f64,
}

impl std::fmt::Debug for RunBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunBudget")
            .field("limits", &self.inner.limits)
            .field("spent", &self.spent())
            .finish_non_exhaustive()
    }
}

impl RunBudget {
    /// A run starting now under `limits`.
    pub fn new(limits: BudgetLimits, clock: Arc<dyn Clock>) -> Self {
        let started = clock.now();
        Self {
            inner: Arc::new(Inner {
                limits,
                clock,
                started,
                ledger: Mutex::new(Ledger::default()),
            }),
        }
    }

    /// A run without limits (what it spends is still counted).
    pub fn unlimited(clock: Arc<dyn Clock>) -> Self {
        Self::new(BudgetLimits::default(), clock)
    }

    /// Its limits.
    pub fn limits(&self) -> BudgetLimits {
        self.inner.limits
    }

    /// What it has spent (settled calls).
    pub fn spent(&self) -> Spent {
        self.ledger().spent
    }

    /// The time left, `None` without a wall-time limit.
    pub fn time_left(&self) -> Option<Duration> {
        let limit = self.inner.limits.wall_time?;
        let elapsed = (self.inner.clock.now() - self.inner.started)
            .to_std()
            .unwrap_or_default();
        Some(limit.saturating_sub(elapsed))
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.inner
            .ledger
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a call, or says which limit it would break. The admission caps the answer
    /// (`max_tokens`) to what the run can still pay for and reserves that worst case until
    /// it settles.
    pub fn admit(&self, call: CallEstimate) -> Result<Admission> {
        if self.time_left() == Some(Duration::ZERO) {
            return Err(exceeded(
                "wall_time",
                format!(
                    "the run's {} s are up",
                    self.inner.limits.wall_time.unwrap_or_default().as_secs()
                ),
            ));
        }
        let limits = self.inner.limits;
        let mut cap = match (call.max_tokens, limits.call_tokens) {
            (Some(asked), Some(limit)) => Some(asked.min(limit)),
            (asked, limit) => asked.or(limit),
        };
        let mut ledger = self.ledger();
        if let Some(tokens) = limits.tokens {
            let left = tokens.saturating_sub(ledger.spent.tokens + ledger.reserved_tokens);
            let prompt = u64::from(call.prompt_tokens);
            if prompt >= left {
                return Err(exceeded(
                    "tokens",
                    format!("the request needs about {prompt} tokens and {left} are left"),
                ));
            }
            let affordable = u32::try_from(left - prompt).unwrap_or(u32::MAX);
            cap = Some(cap.map_or(affordable, |c| c.min(affordable)));
        }
        if let (Some(limit), Some(price)) = (limits.cost, call.price) {
            let left = limit - ledger.spent.cost - ledger.reserved_cost;
            let prompt_cost = price.tokens_cost(call.prompt_tokens, 0);
            let per_token = price.output_per_million / 1_000_000.0;
            let affordable = if per_token > 0.0 {
                ((left - prompt_cost) / per_token).floor()
            } else if left >= prompt_cost {
                f64::from(u32::MAX)
            } else {
                -1.0
            };
            if affordable < 1.0 {
                return Err(exceeded(
                    "cost",
                    format!("the request would cost more than the ${left:.6} left"),
                ));
            }
            // `affordable` is at least 1 here and the cast saturates.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let affordable = affordable.min(f64::from(u32::MAX)) as u32;
            cap = Some(cap.map_or(affordable, |c| c.min(affordable)));
        }
        let reserved_tokens = match (limits.tokens, cap) {
            (Some(_), Some(cap)) => u64::from(call.prompt_tokens) + u64::from(cap),
            _ => 0,
        };
        let reserved_cost = match (limits.cost, call.price, cap) {
            (Some(_), Some(price), Some(cap)) => price.tokens_cost(call.prompt_tokens, cap),
            _ => 0.0,
        };
        ledger.reserved_tokens += reserved_tokens;
        ledger.reserved_cost += reserved_cost;
        Ok(Admission {
            budget: self.clone(),
            max_tokens: cap,
            reserved_tokens,
            reserved_cost,
            settled: false,
        })
    }
}

/// A call admitted by a [`RunBudget`]: its answer cap and the reserve it holds until
/// [`Admission::settle`] (dropped unsettled, as when the call failed, it frees the reserve).
#[derive(Debug)]
pub struct Admission {
    budget: RunBudget,
    max_tokens: Option<u32>,
    reserved_tokens: u64,
    reserved_cost: f64,
    settled: bool,
}

impl Admission {
    /// The most tokens the answer may take (send it as the request's `max_tokens`).
    pub fn max_tokens(&self) -> Option<u32> {
        self.max_tokens
    }

    /// Books what the call used and cost in place of its reserve.
    pub fn settle(mut self, usage: &Usage, cost: f64) {
        let mut ledger = self.budget.ledger();
        ledger.spent.tokens += usage.total();
        ledger.spent.cost += cost;
        ledger.spent.calls += 1;
        self.release(&mut ledger);
        drop(ledger);
        self.settled = true;
    }

    fn release(&self, ledger: &mut Ledger) {
        ledger.reserved_tokens = ledger.reserved_tokens.saturating_sub(self.reserved_tokens);
        ledger.reserved_cost = (ledger.reserved_cost - self.reserved_cost).max(0.0);
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if !self.settled {
            let budget = self.budget.clone();
            self.release(&mut budget.ledger());
        }
    }
}

fn exceeded(limit: &'static str, message: String) -> Error {
    Error::BudgetExceeded { limit, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    fn clock() -> Arc<ManualClock> {
        Arc::new(ManualClock::new(
            DateTime::parse_from_rfc3339("2026-12-07T09:00:00Z")
                .unwrap()
                .to_utc(),
        ))
    }

    fn limit_of(err: Error) -> &'static str {
        match err {
            Error::BudgetExceeded { limit, .. } => limit,
            other => panic!("not a budget error: {other:?}"),
        }
    }

    fn call(prompt: u32, max_tokens: Option<u32>) -> CallEstimate {
        CallEstimate {
            prompt_tokens: prompt,
            max_tokens,
            price: None,
        }
    }

    #[test]
    fn the_answer_is_capped_to_the_tokens_left_and_a_prompt_too_big_is_refused() {
        let budget = RunBudget::new(
            BudgetLimits {
                tokens: Some(1_000),
                call_tokens: Some(300),
                ..BudgetLimits::default()
            },
            clock(),
        );
        let first = budget.admit(call(100, Some(500))).unwrap();
        assert_eq!(first.max_tokens(), Some(300), "the per-call cap wins");
        first.settle(
            &Usage {
                prompt_tokens: 100,
                completion_tokens: 250,
            },
            0.0,
        );
        assert_eq!(budget.spent().tokens, 350);
        let second = budget.admit(call(500, None)).unwrap();
        assert_eq!(
            second.max_tokens(),
            Some(150),
            "650 left, 500 of them the prompt"
        );
        // While the second holds its reserve, nothing is left for a third.
        assert_eq!(limit_of(budget.admit(call(1, None)).unwrap_err()), "tokens");
        drop(second);
        assert_eq!(
            limit_of(budget.admit(call(650, None)).unwrap_err()),
            "tokens"
        );
        assert!(
            budget.admit(call(649, None)).is_ok(),
            "a failed call frees its reserve"
        );
        assert_eq!(budget.spent().calls, 1);
    }

    #[test]
    fn the_answer_is_capped_to_what_the_money_left_pays_for() {
        let budget = RunBudget::new(
            BudgetLimits {
                cost: Some(0.01),
                ..BudgetLimits::default()
            },
            clock(),
        );
        let price = ModelPrice {
            input_per_million: 1.0,
            output_per_million: 10.0,
        };
        let priced = |prompt| CallEstimate {
            price: Some(price),
            ..call(prompt, None)
        };
        // $0.01 - 1,000 × $1/M = $0.009, at $10/M: 900 tokens.
        let admitted = budget.admit(priced(1_000)).unwrap();
        assert_eq!(admitted.max_tokens(), Some(900));
        admitted.settle(
            &Usage {
                prompt_tokens: 1_000,
                completion_tokens: 900,
            },
            price.cost(&Usage {
                prompt_tokens: 1_000,
                completion_tokens: 900,
            }),
        );
        assert_eq!(limit_of(budget.admit(priced(10)).unwrap_err()), "cost");
        // Without a price the cost cannot be known before; the call goes, and is counted.
        assert_eq!(
            budget.admit(call(10, Some(5))).unwrap().max_tokens(),
            Some(5)
        );
    }

    #[test]
    fn no_call_is_admitted_once_the_time_is_up() {
        let clock = clock();
        let budget = RunBudget::new(
            BudgetLimits {
                wall_time: Some(Duration::from_secs(60)),
                ..BudgetLimits::default()
            },
            clock.clone(),
        );
        assert!(budget.admit(call(10, None)).is_ok());
        clock.advance(chrono::Duration::seconds(59));
        assert_eq!(budget.time_left(), Some(Duration::from_secs(1)));
        assert!(budget.admit(call(10, None)).is_ok());
        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(
            limit_of(budget.admit(call(10, None)).unwrap_err()),
            "wall_time"
        );
    }

    #[test]
    fn without_limits_calls_go_as_asked_and_are_counted() {
        let budget = RunBudget::unlimited(clock());
        let shared = budget.clone();
        let admitted = budget.admit(call(1_000_000, None)).unwrap();
        assert_eq!(admitted.max_tokens(), None);
        admitted.settle(
            &Usage {
                prompt_tokens: 7,
                completion_tokens: 3,
            },
            0.5,
        );
        assert_eq!(
            shared.spent(),
            Spent {
                tokens: 10,
                cost: 0.5,
                calls: 1
            }
        );
    }
}
