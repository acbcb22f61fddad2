//! The executor's confinement beyond wasmtime, in case a guest ever escapes it: no network
//! (its own network namespace, and no socket syscall), no writes outside the compile cache
//! (Landlock), only the syscalls wasmtime and tokio need (seccomp, everything else `EPERM`),
//! and resource limits (open files, address space, no core dumps). Each step reports whether
//! the machine allowed it; a step it refuses is reported, never silently skipped.

use std::{collections::BTreeMap, path::Path};

use serde::{Deserialize, Serialize};

/// What the executor's confinement consists of, step by step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confinement {
    /// Each step, and why it is missing if it is.
    pub steps: Vec<Step>,
}

/// One confinement step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What it confines, e.g. `network namespace`.
    pub name: String,
    /// `None` if in force, else why not.
    pub missing: Option<String>,
}

impl Confinement {
    fn record(&mut self, name: &str, outcome: Result<(), String>) {
        self.steps.push(Step { name: name.to_owned(), missing: outcome.err() });
    }

    /// The steps not in force.
    pub fn missing(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.missing.is_some())
    }
}

/// Most open files of an executor (pipes, runtime, compile cache files).
const MAX_OPEN_FILES: u64 = 256;
/// Address space allowed beyond what the sandbox reserved when it started (compiling and
/// the host's own allocations).
const ADDRESS_SPACE_HEADROOM: u64 = 8 << 30;

/// The steps that must run while the process has one thread (namespaces) or before any
/// untrusted input (files, Landlock): network namespace, open-file and core limits, and the
/// filesystem rules (read anywhere, write only under `cache`).
pub(crate) fn before_threads(report: &mut Confinement, cache: Option<&Path>) {
    report.record("network namespace", unshare_network());
    report.record("open files", limit(nix::sys::resource::Resource::RLIMIT_NOFILE, MAX_OPEN_FILES));
    report.record("core dumps", limit(nix::sys::resource::Resource::RLIMIT_CORE, 0));
    report.record("filesystem (landlock)", landlock(cache));
}

/// The steps that follow the sandbox's start: the address-space limit (measured above what the
/// pooling allocator reserved) and the syscall filter, on every thread.
pub(crate) fn after_start(report: &mut Confinement) {
    report.record("address space", limit_address_space());
    report.record("syscalls (seccomp)", seccomp());
}

fn unshare_network() -> Result<(), String> {
    use nix::sched::{CloneFlags, unshare};
    unshare(CloneFlags::CLONE_NEWNET)
        .or_else(|_| unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET))
        .map_err(|e| format!("unshare: {e}"))
}

fn limit(resource: nix::sys::resource::Resource, value: u64) -> Result<(), String> {
    nix::sys::resource::setrlimit(resource, value, value).map_err(|e| format!("setrlimit: {e}"))
}

fn limit_address_space() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmSize in /proc/self/status")?;
    limit(nix::sys::resource::Resource::RLIMIT_AS, kib * 1024 + ADDRESS_SPACE_HEADROOM)
}

fn landlock(cache: Option<&Path>) -> Result<(), String> {
    use landlock::{
        ABI, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
        path_beneath_rules,
    };
    let abi = ABI::V3;
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .and_then(Ruleset::create)
        .and_then(|r| r.add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi))))
        .map_err(|e| e.to_string())?;
    if let Some(cache) = cache {
        std::fs::create_dir_all(cache).map_err(|e| format!("{}: {e}", cache.display()))?;
        ruleset = ruleset
            .add_rules(path_beneath_rules([cache], AccessFs::from_all(abi)))
            .map_err(|e| e.to_string())?;
    }
    let status = ruleset.restrict_self().map_err(|e| e.to_string())?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok(()),
        RulesetStatus::PartiallyEnforced => Err("only partly enforced by this kernel".into()),
        RulesetStatus::NotEnforced => Err("not supported by this kernel".into()),
    }
}

/// The syscalls an executor makes after it started: memory, threads, time, signals, the
/// pipes and the runtime's polling, and files (the compile cache).
const ALLOWED: &[libc::c_long] = &[
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_close,
    libc::SYS_openat,
    libc::SYS_newfstatat,
    libc::SYS_fstat,
    libc::SYS_statx,
    libc::SYS_lseek,
    libc::SYS_fcntl,
    libc::SYS_flock,
    libc::SYS_ftruncate,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_unlinkat,
    libc::SYS_mkdirat,
    libc::SYS_getdents64,
    libc::SYS_readlinkat,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_getcwd,
    libc::SYS_ioctl,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mprotect,
    libc::SYS_mremap,
    libc::SYS_madvise,
    libc::SYS_mincore,
    libc::SYS_brk,
    libc::SYS_memfd_create,
    libc::SYS_membarrier,
    libc::SYS_futex,
    libc::SYS_clone,
    libc::SYS_clone3,
    libc::SYS_set_robust_list,
    libc::SYS_rseq,
    libc::SYS_prctl,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_getpid,
    libc::SYS_gettid,
    libc::SYS_tgkill,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_getrandom,
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_pwait,
    libc::SYS_eventfd2,
    libc::SYS_pipe2,
    libc::SYS_ppoll,
    libc::SYS_uname,
    libc::SYS_sysinfo,
    libc::SYS_getrlimit,
    libc::SYS_prlimit64,
    libc::SYS_exit,
    libc::SYS_exit_group,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_epoll_wait,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_poll,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_open,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_stat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_lstat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_access,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_readlink,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_rename,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_unlink,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_mkdir,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_arch_prctl,
];

fn seccomp() -> Result<(), String> {
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule,
    };
    let arch = std::env::consts::ARCH.try_into().map_err(|e| format!("{e:?}"))?;
    let err = |e: seccompiler::BackendError| e.to_string();
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        ALLOWED.iter().map(|sys| (*sys, Vec::new())).collect();
    // Threads, never processes: `clone` only with CLONE_THREAD; `clone3` (whose flags a
    // filter cannot read) answers ENOSYS below, and the C library falls back to `clone`.
    let thread = libc::CLONE_THREAD as u64;
    let only_threads =
        SeccompCondition::new(0, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(thread), thread)
            .map_err(err)?;
    rules.insert(libc::SYS_clone, vec![SeccompRule::new(vec![only_threads]).map_err(err)?]);
    let allow = SeccompFilter::new(
        rules,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        arch,
    )
    .map_err(err)?;
    let no_clone3 = SeccompFilter::new(
        [(libc::SYS_clone3, Vec::new())].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(err)?;
    // The allow-list forbids `seccomp` itself, so it goes last.
    for filter in [no_clone3, allow] {
        let program: BpfProgram = filter.try_into().map_err(err)?;
        seccompiler::apply_filter_all_threads(&program).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Test builds only: confines this process like an executor, then acts as a guest that
/// escaped wasmtime would — opens sockets, writes files, starts a program — and reports what
/// each attempt got, one `name: outcome` line each (`ok` or the errno's name).
#[cfg(feature = "test-utils")]
pub fn probe(cache: Option<std::path::PathBuf>) -> std::process::ExitCode {
    #![allow(clippy::print_stdout)] // the report is the output
    use std::io::Write;
    let mut report = Confinement::default();
    before_threads(&mut report, cache.as_deref());
    after_start(&mut report);
    for step in &report.steps {
        println!("step {}: {}", step.name, step.missing.as_deref().unwrap_or("in force"));
    }
    let outcome = |result: std::io::Result<()>| match result {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.raw_os_error().map_or_else(
            || e.to_string(),
            |code| format!("{:?}", nix::errno::Errno::from_raw(code)),
        ),
    };
    let write = |path: std::path::PathBuf| {
        outcome(std::fs::File::create(path).and_then(|mut f| f.write_all(b"escaped")))
    };
    let attempts = [
        ("tcp connect", outcome(std::net::TcpStream::connect("127.0.0.1:9").map(drop))),
        ("tcp listen", outcome(std::net::TcpListener::bind("127.0.0.1:0").map(drop))),
        ("udp bind", outcome(std::net::UdpSocket::bind("127.0.0.1:0").map(drop))),
        ("unix socket", outcome(std::os::unix::net::UnixDatagram::unbound().map(drop))),
        ("write /tmp", write(std::env::temp_dir().join(format!("escape-{}", std::process::id())))),
        ("write cache", cache.map_or_else(|| "no cache".to_owned(), |c| write(c.join("probe")))),
        ("spawn", outcome(std::process::Command::new("/bin/true").status().map(drop))),
    ];
    for (name, result) in attempts {
        println!("{name}: {result}");
    }
    std::process::ExitCode::SUCCESS
}
