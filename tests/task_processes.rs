//! Black-box tests of the task queue across real `trae worker` processes: a worker killed
//! mid-task, two workers sharing one database, and a worker stopped with SIGTERM.
//!
//! Each test runs on a fresh SQLite file and, when `TRAE_TEST_DATABASE_URL` is set, on a fresh
//! PostgreSQL database (`trae_storage::storage_test!` prints a SKIPPED line otherwise). The
//! test enqueues `http.request` tasks straight into the database and points them at an HTTP
//! server of its own on 127.0.0.1 that records every request.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use trae_core::{NewTask, PageRequest, Principal, Task, TaskFilter, TaskState, TaskStats};
use trae_storage::Store;

const TRAE: &str = env!("CARGO_BIN_EXE_trae");

/// The lease the workers run with: the shortest the configuration allows.
const LEASE_SECS: &str = "5";

// ---------------------------------------------------------------------------------------------
// The upstream: an HTTP server on loopback that the `http.request` tasks call.
// ---------------------------------------------------------------------------------------------

/// What the upstream saw of one path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct PathStats {
    /// Requests received.
    count: u32,
    /// Requests being answered now.
    in_flight: u32,
    /// The most ever answered at once.
    max_in_flight: u32,
}

#[derive(Default)]
struct UpstreamState {
    /// Every request's path, in arrival order.
    requests: Mutex<Vec<String>>,
    paths: Mutex<HashMap<String, PathStats>>,
    /// Connections held open without an answer.
    held: Mutex<Vec<TcpStream>>,
    stop: AtomicBool,
}

/// An HTTP/1.1 server on 127.0.0.1. With `hold_first`, the very first request is never
/// answered (its connection is kept open); every other request is answered `200` with
/// `{"path": ...}` after `delay`.
struct Upstream {
    addr: SocketAddr,
    state: Arc<UpstreamState>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    fn start(hold_first: bool, delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(UpstreamState::default());
        let shared = Arc::clone(&state);
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let state = Arc::clone(&shared);
                std::thread::spawn(move || answer(&state, stream, hold_first, delay));
            }
        });
        Self {
            addr,
            state,
            accept: Some(accept),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        lock(&self.state.requests).clone()
    }

    fn paths(&self) -> HashMap<String, PathStats> {
        lock(&self.state.paths).clone()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        lock(&self.state.held).clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads one request head from `stream` and answers it (or holds it).
fn answer(state: &UpstreamState, mut stream: TcpStream, hold_first: bool, delay: Duration) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return, // e.g. the wake-up connection of `Upstream::drop`
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let Some(path) = text
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .map(str::to_owned)
    else {
        return;
    };
    let first = {
        let mut requests = lock(&state.requests);
        requests.push(path.clone());
        requests.len() == 1
    };
    if hold_first && first {
        lock(&state.held).push(stream);
        return;
    }
    {
        let mut paths = lock(&state.paths);
        let p = paths.entry(path.clone()).or_default();
        p.count += 1;
        p.in_flight += 1;
        p.max_in_flight = p.max_in_flight.max(p.in_flight);
    }
    std::thread::sleep(delay);
    let body = json!({ "path": path }).to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
    // Still in flight until the answer is out: a second run of the same task overlapping this
    // one shows up as two in flight.
    lock(&state.paths)
        .get_mut(&path)
        .expect("counted above")
        .in_flight -= 1;
}

// ---------------------------------------------------------------------------------------------
// `trae worker` processes.
// ---------------------------------------------------------------------------------------------

/// What `trae worker` logs when it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Summary {
    claimed: u64,
    completed: u64,
    failed: u64,
}

/// A `trae worker` process on `url` with its own data dir and JSON log; killed on drop.
struct WorkerProcess {
    child: Child,
    /// The worker id it records on the tasks it claims.
    id: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl WorkerProcess {
    /// Starts `trae worker --concurrency N` on the database at `url` (loopback allowed, a
    /// 5 s lease) and waits until it logs that it runs.
    async fn start(url: &str, concurrency: usize) -> Self {
        let mut worker = Self::spawn(url, concurrency);
        worker.ready().await;
        worker
    }

    /// Starts `trae worker --concurrency N` without waiting for it.
    fn spawn(url: &str, concurrency: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("worker.log");
        let child = Command::new(TRAE)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TRAE_DATA_DIR", dir.path())
            .env("TRAE_DATABASE_URL", url)
            .env(
                "TRAE_MASTER_KEY",
                "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYgo=",
            )
            .env("TRAE_LOG", "info")
            .env("TRAE_LOG_FORMAT", "json")
            .env("TRAE_OUTBOUND_ALLOW_LOOPBACK", "true")
            .env("TRAE_TASK_LEASE_SECS", LEASE_SECS)
            .args(["worker", "--concurrency", &concurrency.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self {
            child,
            id: String::new(),
            log,
            _dir: dir,
        }
    }

    /// Waits until it logs that it runs, and learns its worker id.
    async fn ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(id) = self
                .lines()
                .iter()
                .find(|l| l["fields"]["message"] == "task worker running")
                .and_then(|l| l["fields"]["worker"].as_str())
            {
                self.id = id.to_owned();
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("trae worker exited early ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "trae worker did not start:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn lines(&self) -> Vec<Value> {
        self.log()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// SIGKILL: no chance to give anything back.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and waits (up to `within`) for it to exit.
    async fn terminate(&mut self, within: Duration) -> ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "trae worker did not stop within {within:?} of SIGTERM:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops it with SIGTERM and returns the summary it logged.
    async fn stop(&mut self) -> Summary {
        let status = self.terminate(Duration::from_secs(30)).await;
        assert!(status.success(), "exit status {status}:\n{}", self.log());
        self.summary()
    }

    /// The summary of the "worker stopped" line.
    fn summary(&self) -> Summary {
        let lines = self.lines();
        let line = lines
            .iter()
            .find(|l| l["fields"]["message"] == "worker stopped")
            .unwrap_or_else(|| panic!("no \"worker stopped\" line:\n{}", self.log()));
        let n = |k: &str| {
            line["fields"][k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k} missing: {line}"))
        };
        Summary {
            claimed: n("claimed"),
            completed: n("completed"),
            failed: n("failed"),
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers over the database.
// ---------------------------------------------------------------------------------------------

fn http_task(url: &str) -> NewTask {
    NewTask::new("http.request", json!({ "url": url }))
}

async fn enqueue(store: &Store, tasks: Vec<NewTask>) -> Vec<Task> {
    store
        .tasks()
        .enqueue_many(&Principal::System, tasks)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            assert!(e.inserted);
            e.task
        })
        .collect()
}

/// Every task in the database.
async fn all_tasks(store: &Store) -> Vec<Task> {
    let mut out = Vec::new();
    loop {
        let page = store
            .tasks()
            .list(
                &trae_core::Principal::System,
                TaskFilter::default(),
                PageRequest::new(Some(500), Some(out.len() as i64)).unwrap(),
            )
            .await
            .unwrap();
        let total = page.total as usize;
        out.extend(page.items);
        if out.len() >= total {
            return out;
        }
    }
}

/// The count per state of the `default` queue (every state present).
fn default_queue(stats: &TaskStats) -> BTreeMap<TaskState, u64> {
    stats
        .queues
        .iter()
        .find(|q| q.queue == "default")
        .map(|q| q.states.clone())
        .unwrap_or_default()
}

/// Polls the `default` queue's stats until `done` holds, for at most `within`.
async fn wait_for_states(
    store: &Store,
    within: Duration,
    what: &str,
    done: impl Fn(&BTreeMap<TaskState, u64>) -> bool,
    logs: impl Fn() -> String,
) -> BTreeMap<TaskState, u64> {
    let deadline = Instant::now() + within;
    loop {
        let states = default_queue(
            &store
                .tasks()
                .stats(&trae_core::Principal::System)
                .await
                .unwrap(),
        );
        if done(&states) {
            return states;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?}; states {states:?}\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls until the upstream has seen `n` requests, for at most `within`.
async fn wait_for_requests(upstream: &Upstream, n: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while upstream.requests().len() < n {
        assert!(
            Instant::now() < deadline,
            "the upstream saw {:?}, not {n} requests, within {within:?}",
            upstream.requests()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn only(states: &BTreeMap<TaskState, u64>, state: TaskState, n: u64) -> bool {
    states
        .iter()
        .all(|(s, count)| *count == if *s == state { n } else { 0 })
}

// ---------------------------------------------------------------------------------------------
// 1. A worker killed with SIGKILL mid-task: the lease expires and another worker finishes it.
// ---------------------------------------------------------------------------------------------

trae_storage::storage_test!(
    a_task_of_a_killed_worker_is_finished_by_another,
    killed_worker
);

async fn killed_worker(url: String) {
    let started = Instant::now();
    let store = Store::connect(&url).await.unwrap();
    let upstream = Upstream::start(true, Duration::ZERO);
    let path = "/killed/1";
    let [task] =
        <[Task; 1]>::try_from(enqueue(&store, vec![http_task(&upstream.url(path))]).await).unwrap();

    let mut first = WorkerProcess::start(&url, 2).await;
    wait_for_requests(&upstream, 1, Duration::from_secs(15)).await;
    let running = store
        .tasks()
        .get(&trae_core::Principal::System, task.id)
        .await
        .unwrap();
    assert_eq!(
        (running.state, running.attempt, running.worker_id.as_deref()),
        (TaskState::Running, 1, Some(first.id.as_str()))
    );
    first.kill();

    let mut second = WorkerProcess::start(&url, 2).await;
    // The lease (5 s) runs out, the second worker's heartbeat rescues the task and claims it.
    let logs = || format!("first:\n{}\nsecond:\n{}", first.log(), second.log());
    wait_for_states(
        &store,
        Duration::from_secs(20),
        "the task completes",
        |s| s[&TaskState::Completed] == 1,
        logs,
    )
    .await;
    let summary = second.stop().await;
    assert_eq!(
        summary,
        Summary {
            claimed: 1,
            completed: 1,
            failed: 0
        },
        "{}",
        second.log()
    );

    // Both workers are gone: nothing can call the upstream any more.
    assert_eq!(
        upstream.requests(),
        vec![path.to_owned(), path.to_owned()],
        "one request from each attempt"
    );
    let done = store
        .tasks()
        .get(&trae_core::Principal::System, task.id)
        .await
        .unwrap();
    assert_eq!(done.state, TaskState::Completed);
    assert_eq!(done.attempt, 2);
    assert_eq!(done.worker_id.as_deref(), Some(second.id.as_str()));
    assert_eq!(done.lease_expires_at, None);
    let result = done.result.as_ref().expect("a result");
    assert_eq!(result["status"], 200, "{result}");
    assert_eq!(result["body"], json!({ "path": path }), "{result}");
    assert_eq!(done.errors.len(), 1, "{:?}", done.errors);
    assert_eq!(done.errors[0].attempt, 1);
    assert_eq!(
        done.errors[0].message,
        format!("lease expired (worker {})", first.id),
        "the lost attempt names the dead worker"
    );
    assert_eq!(
        done.last_error.as_deref(),
        Some(done.errors[0].message.as_str())
    );

    // Nothing lost, nothing doubled.
    let all = all_tasks(&store).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let states = default_queue(
        &store
            .tasks()
            .stats(&trae_core::Principal::System)
            .await
            .unwrap(),
    );
    assert!(only(&states, TaskState::Completed, 1), "{states:?}");

    store.close().await;
    eprintln!("killed worker: {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// 2. Two worker processes on one database: each task runs once, never twice at a time.
// ---------------------------------------------------------------------------------------------

trae_storage::storage_test!(two_workers_on_one_database_run_each_task_once, two_workers);

async fn two_workers(url: String) {
    const TASKS: usize = 200;
    const FIRST_BATCH: usize = 100;
    const ROUND: usize = 25;
    let started = Instant::now();
    let store = Store::connect(&url).await.unwrap();
    let upstream = Upstream::start(false, Duration::from_millis(50));
    let task = |n: usize| http_task(&upstream.url(&format!("/t/{n}")));

    // Half waits before the workers start, so both claim from it as they come up (both take
    // part). The rest arrives in rounds while both are idle: on PostgreSQL, NOTIFY wakes both
    // at once and they race for the same best tasks; on SQLite they poll.
    let mut enqueued = enqueue(&store, (0..FIRST_BATCH).map(task).collect()).await;
    let mut a = WorkerProcess::spawn(&url, 8);
    let mut b = WorkerProcess::spawn(&url, 8);
    a.ready().await;
    b.ready().await;
    let logs = || format!("a:\n{}\nb:\n{}", a.log(), b.log());
    let finished = |s: &BTreeMap<TaskState, u64>| {
        s[&TaskState::Completed] + s[&TaskState::Failed] + s[&TaskState::Cancelled]
    };
    let mut target = FIRST_BATCH;
    loop {
        let states = wait_for_states(
            &store,
            Duration::from_secs(60),
            &format!("{target} tasks finish"),
            |s| finished(s) == target as u64,
            &logs,
        )
        .await;
        assert!(
            only(&states, TaskState::Completed, target as u64),
            "{states:?}\n{}",
            logs()
        );
        if target == TASKS {
            break;
        }
        let end = (target + ROUND).min(TASKS);
        enqueued.extend(enqueue(&store, (target..end).map(task).collect()).await);
        target = end;
    }
    assert_eq!(enqueued.len(), TASKS);
    let (sa, sb) = (a.stop().await, b.stop().await);

    // The upstream saw each index exactly once, never two at a time.
    let paths = upstream.paths();
    let expected: HashMap<String, PathStats> = (0..TASKS)
        .map(|n| {
            (
                format!("/t/{n}"),
                PathStats {
                    count: 1,
                    in_flight: 0,
                    max_in_flight: 1,
                },
            )
        })
        .collect();
    let wrong: BTreeMap<&String, &PathStats> = paths
        .iter()
        .filter(|(p, s)| expected.get(*p) != Some(*s))
        .collect();
    assert!(wrong.is_empty(), "paths run other than once: {wrong:?}");
    assert_eq!(paths.len(), TASKS);
    assert_eq!(upstream.requests().len(), TASKS);

    // Every task completed on its first attempt, by one of the two, with its own answer.
    let all = all_tasks(&store).await;
    assert_eq!(all.len(), TASKS);
    let mut by_worker: HashMap<String, u64> = HashMap::new();
    for t in &all {
        assert_eq!(
            (t.state, t.attempt, t.errors.len()),
            (TaskState::Completed, 1, 0),
            "{t:?}"
        );
        let url = t.payload["url"].as_str().unwrap();
        let path = &url[url.find("/t/").unwrap()..];
        assert_eq!(t.result.as_ref().unwrap()["body"]["path"], path, "{t:?}");
        *by_worker
            .entry(t.worker_id.clone().unwrap_or_default())
            .or_default() += 1;
    }
    let expected_by_worker: HashMap<String, u64> =
        [(a.id.clone(), sa.claimed), (b.id.clone(), sb.claimed)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect();
    assert_eq!(by_worker, expected_by_worker, "a: {sa:?}, b: {sb:?}");
    assert_eq!(
        (
            sa.claimed + sb.claimed,
            sa.completed + sb.completed,
            sa.failed + sb.failed
        ),
        (TASKS as u64, TASKS as u64, 0),
        "a: {sa:?}, b: {sb:?}"
    );
    assert!(
        sa.claimed > 0 && sb.claimed > 0,
        "both workers took part: a {sa:?}, b {sb:?}"
    );

    store.close().await;
    eprintln!(
        "two workers: {:?} (a claimed {}, b claimed {})",
        started.elapsed(),
        sa.claimed,
        sb.claimed
    );
}

// ---------------------------------------------------------------------------------------------
// 3. SIGTERM with a task in flight: the worker gives it back without spending the attempt.
// ---------------------------------------------------------------------------------------------

trae_storage::storage_test!(sigterm_gives_a_running_task_back, sigterm_releases);

async fn sigterm_releases(url: String) {
    let started = Instant::now();
    let store = Store::connect(&url).await.unwrap();
    let upstream = Upstream::start(true, Duration::ZERO);
    let path = "/released/1";
    let [task] =
        <[Task; 1]>::try_from(enqueue(&store, vec![http_task(&upstream.url(path))]).await).unwrap();

    let mut first = WorkerProcess::start(&url, 2).await;
    wait_for_requests(&upstream, 1, Duration::from_secs(15)).await;
    // The handler never returns: the worker waits out its shutdown grace (10 s, longer than
    // the 5 s lease, so renewals must go on meanwhile), stops the handler and releases the
    // task.
    let status = first.terminate(Duration::from_secs(30)).await;
    assert!(status.success(), "exit status {status}:\n{}", first.log());
    assert_eq!(
        first.summary(),
        Summary {
            claimed: 1,
            completed: 0,
            failed: 0
        },
        "{}",
        first.log()
    );
    let released = store
        .tasks()
        .get(&trae_core::Principal::System, task.id)
        .await
        .unwrap();
    assert_eq!(
        (released.state, released.attempt, released.errors.len()),
        (TaskState::Available, 0, 0),
        "{released:?}\n{}",
        first.log()
    );
    assert_eq!(released.lease_expires_at, None);

    let mut second = WorkerProcess::start(&url, 2).await;
    let logs = || second.log();
    wait_for_states(
        &store,
        Duration::from_secs(15),
        "the released task completes",
        |s| s[&TaskState::Completed] == 1,
        logs,
    )
    .await;
    assert_eq!(second.stop().await.completed, 1, "{}", second.log());
    let done = store
        .tasks()
        .get(&trae_core::Principal::System, task.id)
        .await
        .unwrap();
    assert_eq!(
        (done.state, done.attempt, done.errors.len()),
        (TaskState::Completed, 1, 0),
        "the released attempt was not counted: {done:?}"
    );
    assert_eq!(done.worker_id.as_deref(), Some(second.id.as_str()));
    assert_eq!(upstream.requests(), vec![path.to_owned(), path.to_owned()]);

    store.close().await;
    eprintln!("sigterm: {:?}", started.elapsed());
}
