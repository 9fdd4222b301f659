//! CPU-heavy work on a thread of its own at the lowest scheduling priority (Linux `SCHED_IDLE`,
//! inherited by the threads it starts), so that an analysis running flat out on every core
//! only uses the CPU time the API and subscriptions leave (why `SCHED_IDLE` and not a nice
//! value: docs/perf.md). Such a thread can be preempted for long while holding a lock, so it
//! must share none that the runtime's threads wait for (see `progress::Updates`).

/// Runs `work` at the lowest priority; its result arrives on the receiver (a panic shows up as
/// `Err`).
pub(super) fn in_background<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> tokio::sync::oneshot::Receiver<T> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("analysis".into()).spawn(move || {
        lower_priority();
        work()
    });
    // The result is handed over by a thread at normal priority: waking the waiting task takes
    // the runtime's scheduler lock, which the idle-priority thread must never hold.
    let handed_over = spawned.and_then(|analysis| {
        std::thread::Builder::new().name("analysis-join".into()).spawn(move || {
            if let Ok(result) = analysis.join() {
                let _ = sender.send(result);
            }
        })
    });
    if let Err(error) = handed_over {
        tracing::error!(%error, "starting an analysis thread");
    }
    receiver
}

fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls about the calling thread (0 / its id); failure only means the
    // thread keeps a higher priority.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            let thread = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, thread, 19);
        }
    }
}
