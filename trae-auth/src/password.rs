//! Password hashing with argon2id, off the async executor and bounded in concurrency.
//!
//! Each hash costs `m_cost` KiB of memory and tens of milliseconds of CPU, so hashing runs on
//! a small pool of its own threads (default: one per core but one) behind a semaphore: a login storm
//! queues instead of stalling other requests or exhausting memory. The pool's threads run at
//! the lowest scheduling priority, so a request thread that wakes up takes a core from a hash
//! at once instead of waiting out its time slice; on an otherwise idle machine hashes still
//! use every core. Verifying for an unknown user still costs one hash against a dummy, so
//! response time does not reveal which usernames exist.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use argon2::password_hash::phc::{self, Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{Semaphore, oneshot};

use crate::{AuthError, Result};

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl PasswordParams {
    /// OWASP's minimum recommendation for argon2id: 19 MiB, two iterations, one lane.
    pub const OWASP: Self = Self {
        m_cost: 19 * 1024,
        t_cost: 2,
        p_cost: 1,
    };

    /// The cheapest parameters argon2 allows; for tests only.
    pub const INSECURE_FOR_TESTS: Self = Self {
        m_cost: 8,
        t_cost: 1,
        p_cost: 1,
    };

    fn argon2(self) -> Result<Argon2<'static>> {
        let params = Params::new(self.m_cost, self.t_cost, self.p_cost, None)
            .map_err(|e| AuthError::Config(format!("argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self::OWASP
    }
}

/// Hashes at once when not configured: one per core but one, at least one. A core kept free
/// of hashing is what keeps other requests' tail latency near idle during a login storm;
/// low scheduling priority alone does not on a small machine (docs/benchmarks.md).
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1))
        .max(1)
}

/// The outcome of checking a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Whether the password matched.
    pub matches: bool,
    /// A fresh hash at the current parameters, when the password matched but the stored hash
    /// used other parameters (or another algorithm); store it in place of the old one.
    pub upgraded_hash: Option<String>,
}

/// Hashes and verifies passwords with argon2id.
#[derive(Clone)]
pub struct PasswordHasher {
    params: PasswordParams,
    permits: Arc<Semaphore>,
    pool: Arc<rayon::ThreadPool>,
    dummy: Arc<OnceLock<String>>,
    /// Hashes queued or running on the pool; the last one to finish releases its memory.
    busy: Arc<AtomicUsize>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .field("threads", &self.pool.current_num_threads())
            .field("available_permits", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with `params`, running at most `concurrency` hashes at once (0 means
    /// [`default_concurrency`]) on as many threads of its own.
    pub fn new(params: PasswordParams, concurrency: usize) -> Result<Self> {
        params.argon2()?;
        let concurrency = if concurrency == 0 {
            default_concurrency()
        } else {
            concurrency
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(concurrency)
            .thread_name(|i| format!("trae-password-{i}"))
            .start_handler(|_| lower_priority())
            // A panicking hash drops its reply sender; the caller gets an error, the process
            // lives on (rayon's default is to abort).
            .panic_handler(|_| {})
            .build()
            .map_err(|e| AuthError::Config(format!("password hashing threads: {e}")))?;
        let hasher = Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency)),
            pool: Arc::new(pool),
            dummy: Arc::new(OnceLock::new()),
            busy: Arc::new(AtomicUsize::new(1)),
        };
        // The dummy is a real hash at the real parameters, so verifying against it costs what
        // a real verification costs. Made in the background so start-up does not wait for it;
        // the first unknown-user verification waits if it is not done yet.
        let dummy = hasher.dummy.clone();
        let busy = hasher.busy.clone();
        let pool = hasher.pool.clone();
        hasher.pool.spawn(move || {
            dummy.get_or_init(|| dummy_hash(params));
            finished(&busy, &pool);
        });
        Ok(hasher)
    }

    /// Bytes of argon2 memory the hashing threads keep between hashes (0 when idle).
    pub fn kept_memory_bytes(&self) -> usize {
        self.pool
            .broadcast(|_| {
                MEMORY.with_borrow(|memory| memory.capacity() * std::mem::size_of::<Block>())
            })
            .into_iter()
            .sum()
    }

    /// The parameters new hashes use.
    pub fn params(&self) -> PasswordParams {
        self.params
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$m=…`).
    pub async fn hash(&self, password: &str) -> Result<String> {
        let params = self.params;
        let password = password.to_owned();
        self.run(move || hash_phc(params, password.as_bytes()))
            .await
    }

    /// Checks `password` against `stored`; with `stored` absent (unknown user) it checks
    /// against a dummy hash and never matches, taking the same time.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<Verification> {
        let params = self.params;
        let known = stored.is_some();
        let stored = stored.map(str::to_owned);
        let dummy = self.dummy.clone();
        let password = password.to_owned();
        self.run(move || {
            let stored = stored.unwrap_or_else(|| dummy.get_or_init(|| dummy_hash(params)).clone());
            let Ok(parsed) = PasswordHash::new(&stored) else {
                // An unreadable stored hash never matches; spend the time anyway.
                let _ = hash_phc(params, password.as_bytes());
                return Ok(Verification {
                    matches: false,
                    upgraded_hash: None,
                });
            };
            let matches = verify_phc(password.as_bytes(), &parsed).unwrap_or(false) && known;
            let current = Params::try_from(&parsed).ok().is_some_and(|p| {
                p.m_cost() == params.m_cost
                    && p.t_cost() == params.t_cost
                    && p.p_cost() == params.p_cost
            }) && parsed.algorithm.as_str() == "argon2id";
            let upgraded_hash = if matches && !current {
                Some(hash_phc(params, password.as_bytes())?)
            } else {
                None
            };
            Ok(Verification {
                matches,
                upgraded_hash,
            })
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        // Waiting here rather than in the pool's queue means a caller that gives up (a client
        // that disconnects) never costs a hash.
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AuthError::Hashing("the hasher is shut down".into()))?;
        let (reply, outcome) = oneshot::channel();
        let busy = self.busy.clone();
        let pool = self.pool.clone();
        busy.fetch_add(1, Ordering::AcqRel);
        self.pool.spawn(move || {
            let _ = reply.send(work());
            finished(&busy, &pool);
        });
        outcome
            .await
            .map_err(|_| AuthError::Hashing("the hashing thread failed".into()))?
    }
}

/// Counts a hash as done; when none is left queued or running, every hashing thread gives its
/// argon2 memory back, so an idle server does not hold ~19 MiB per hashing thread. Under a
/// login storm the count rarely reaches zero and the memory stays for the next hash.
fn finished(busy: &Arc<AtomicUsize>, pool: &rayon::ThreadPool) {
    if busy.fetch_sub(1, Ordering::AcqRel) == 1 {
        let busy = Arc::clone(busy);
        // Queued on every thread, each runs between two hashes, never during one.
        pool.spawn_broadcast(move |_| {
            if busy.load(Ordering::Acquire) == 0 {
                MEMORY.with_borrow_mut(|memory| *memory = Vec::new());
            }
        });
    }
}

thread_local! {
    /// Each hashing thread's argon2 memory, kept from one hash to the next: allocating and
    /// freeing ~19 MiB per hash costs page faults and address-space locks that the request
    /// threads of the same process then wait on.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs argon2 into `out` in this thread's kept memory.
fn compute(argon2: &Argon2<'_>, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<()> {
    let blocks = argon2.params().block_count();
    MEMORY
        .with_borrow_mut(|memory| {
            if memory.len() < blocks {
                memory.resize(blocks, Block::default());
            }
            argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
        })
        .map_err(|e| AuthError::Hashing(e.to_string()))
}

/// A fresh PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) at `params`.
fn hash_phc(params: PasswordParams, password: &[u8]) -> Result<String> {
    let argon2 = params.argon2()?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AuthError::Hashing(format!("no randomness: {e}")))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    compute(&argon2, password, &salt, &mut out)?;
    let phc = |e: phc::Error| AuthError::Hashing(e.to_string());
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params())
            .map_err(|e| AuthError::Hashing(e.to_string()))?,
        salt: Some(Salt::new(&salt).map_err(phc)?),
        hash: Some(Output::new(&out).map_err(phc)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` produces `stored`'s hash under `stored`'s own algorithm and parameters
/// (compared in constant time).
fn verify_phc(password: &[u8], stored: &PasswordHash) -> Result<bool> {
    let bad = |e: &dyn std::fmt::Display| AuthError::Hashing(e.to_string());
    let algorithm = Algorithm::try_from(stored.algorithm.as_str()).map_err(|e| bad(&e))?;
    let version = match stored.version {
        Some(v) => Version::try_from(v).map_err(|e| bad(&e))?,
        None => Version::default(),
    };
    let params = Params::try_from(stored).map_err(|e| bad(&e))?;
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return Ok(false);
    };
    let mut out = vec![0u8; expected.len()];
    compute(
        &Argon2::new(algorithm, version, params),
        password,
        salt,
        &mut out,
    )?;
    Ok(Output::new(&out).map_err(|e| bad(&e))? == *expected)
}

fn dummy_hash(params: PasswordParams) -> String {
    // Parameters were checked when the hasher was built; an unreadable dummy would only make
    // unknown-user checks cheaper, never let anyone in.
    hash_phc(params, b"trae: no such user").unwrap_or_default()
}

/// Puts the calling thread below every request thread in the scheduler's eyes: on Linux
/// `SCHED_IDLE`, which any waking request thread preempts at once (nice 19 alone still lets a
/// hash finish its time slice first); elsewhere the lowest priority of the current policy.
fn lower_priority() {
    use thread_priority::{ThreadPriority, set_current_thread_priority};
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle).is_ok() {
            return;
        }
    }
    if let Err(e) = set_current_thread_priority(ThreadPriority::Min) {
        tracing::debug!("password hashing threads keep normal priority: {e:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(params: PasswordParams) -> PasswordHasher {
        PasswordHasher::new(params, 2).unwrap()
    }

    #[tokio::test]
    async fn idle_hashing_threads_keep_no_argon2_memory() {
        let h = hasher(PasswordParams::INSECURE_FOR_TESTS);
        let stored = h.hash("correct horse battery").await.unwrap();
        assert!(
            h.verify("correct horse battery", Some(&stored))
                .await
                .unwrap()
                .matches
        );
        // The pool thread releases after it replies: give it a moment.
        let mut kept = usize::MAX;
        for _ in 0..100 {
            kept = h.kept_memory_bytes();
            if kept == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(kept, 0, "an idle hasher holds no argon2 blocks");
    }

    #[test]
    fn the_default_concurrency_leaves_a_core_free() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(default_concurrency(), cores.saturating_sub(1).max(1));
        let h = PasswordHasher::new(PasswordParams::INSECURE_FOR_TESTS, 0).unwrap();
        assert_eq!(h.pool.current_num_threads(), default_concurrency());
    }

    #[tokio::test]
    async fn hashes_verify_and_differ_per_salt() {
        let h = hasher(PasswordParams::INSECURE_FOR_TESTS);
        let a = h.hash("correct horse battery").await.unwrap();
        let b = h.hash("correct horse battery").await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "every hash has its own salt");
        assert!(
            h.verify("correct horse battery", Some(&a))
                .await
                .unwrap()
                .matches
        );
        assert!(
            !h.verify("correct horse batterY", Some(&a))
                .await
                .unwrap()
                .matches
        );
    }

    #[tokio::test]
    async fn hashes_interoperate_with_the_reference_encoder() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let params = PasswordParams {
            m_cost: 64,
            t_cost: 2,
            p_cost: 1,
        };
        let h = hasher(params);
        let ours = h.hash("correct horse battery").await.unwrap();
        let argon2 = params.argon2().unwrap();
        assert!(
            argon2
                .verify_password(b"correct horse battery", ours.as_str())
                .is_ok(),
            "the argon2 crate accepts our hash: {ours}"
        );
        let theirs = argon2
            .hash_password(b"correct horse battery")
            .unwrap()
            .to_string();
        let v = h
            .verify("correct horse battery", Some(&theirs))
            .await
            .unwrap();
        assert!(v.matches && v.upgraded_hash.is_none(), "{v:?}");
        assert!(
            !h.verify("correct horse batterz", Some(&theirs))
                .await
                .unwrap()
                .matches
        );
    }

    #[tokio::test]
    async fn owasp_parameters_are_the_default() {
        let h = PasswordHasher::new(PasswordParams::default(), 1).unwrap();
        let hash = h.hash("correct horse battery").await.unwrap();
        assert!(hash.contains("m=19456,t=2,p=1"), "{hash}");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashes_run_below_request_threads() {
        // Field 41 of /proc/thread-self/stat is the scheduling policy (5: SCHED_IDLE).
        fn policy() -> u32 {
            let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
            let after_name = &stat[stat.rfind(')').unwrap() + 2..];
            after_name.split(' ').nth(38).unwrap().parse().unwrap()
        }
        let h = hasher(PasswordParams::INSECURE_FOR_TESTS);
        let caller = policy();
        let in_pool = h.run(|| Ok(policy())).await.unwrap();
        assert_eq!(in_pool, 5, "hashing threads run under SCHED_IDLE");
        assert_eq!(policy(), caller, "the caller's own policy is untouched");
        assert_eq!(caller, 0, "request threads stay SCHED_OTHER");
    }

    #[tokio::test]
    async fn unknown_users_never_match() {
        let h = hasher(PasswordParams::INSECURE_FOR_TESTS);
        let v = h.verify("trae: no such user", None).await.unwrap();
        assert!(
            !v.matches,
            "even the dummy's own password does not log anyone in"
        );
    }

    #[tokio::test]
    async fn garbage_hashes_never_match() {
        let h = hasher(PasswordParams::INSECURE_FOR_TESTS);
        let v = h
            .verify("anything at all", Some("not-a-phc-string"))
            .await
            .unwrap();
        assert_eq!(
            v,
            Verification {
                matches: false,
                upgraded_hash: None
            }
        );
    }

    #[tokio::test]
    async fn hashes_at_old_parameters_are_upgraded_on_match_only() {
        let old = hasher(PasswordParams {
            m_cost: 16,
            t_cost: 1,
            p_cost: 1,
        });
        let new = hasher(PasswordParams {
            m_cost: 32,
            t_cost: 2,
            p_cost: 1,
        });
        let stored = old.hash("correct horse battery").await.unwrap();
        let wrong = new
            .verify("wrong password here", Some(&stored))
            .await
            .unwrap();
        assert_eq!(wrong.upgraded_hash, None);
        let right = new
            .verify("correct horse battery", Some(&stored))
            .await
            .unwrap();
        assert!(right.matches);
        let upgraded = right
            .upgraded_hash
            .expect("re-hashed at the new parameters");
        assert!(upgraded.contains("m=32,t=2,p=1"), "{upgraded}");
        let again = new
            .verify("correct horse battery", Some(&upgraded))
            .await
            .unwrap();
        assert_eq!(again.upgraded_hash, None, "current hashes are left alone");
    }

    #[test]
    fn impossible_parameters_are_a_config_error() {
        let err = PasswordHasher::new(
            PasswordParams {
                m_cost: 1,
                t_cost: 1,
                p_cost: 1,
            },
            1,
        )
        .unwrap_err();
        assert!(matches!(err, AuthError::Config(_)), "{err}");
    }
}
