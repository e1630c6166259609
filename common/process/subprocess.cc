#include "common/process/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace cairn::process {
namespace {

using Clock = std::chrono::steady_clock;

std::string Errno(int e) { return std::strerror(e); }

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

int PidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

// posix_spawn's file actions and attributes, destroyed on every path.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  bool actions_ready = false;
  bool attr_ready = false;

  int Init() {
    int rc = posix_spawn_file_actions_init(&actions);
    actions_ready = rc == 0;
    if (rc != 0) return rc;
    rc = posix_spawnattr_init(&attr);
    attr_ready = rc == 0;
    return rc;
  }
  ~SpawnSetup() {
    if (actions_ready) posix_spawn_file_actions_destroy(&actions);
    if (attr_ready) posix_spawnattr_destroy(&attr);
  }
};

}  // namespace

Result<Subprocess> Subprocess::Spawn(const SubprocessOptions& o) {
  if (o.args.empty()) return Fail(ErrorCode::kInvalidArgument, "Subprocess: no program given");
  std::vector<std::string> env_store;
  if (o.inherit_env) {
    for (char** e = environ; *e; ++e) {
      std::string_view kv(*e);
      auto eq = kv.find('=');
      std::string key(kv.substr(0, eq));
      if (!o.env.contains(key)) env_store.emplace_back(kv);
    }
  }
  for (const auto& [k, v] : o.env) env_store.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> arg_store = o.args;
  std::vector<char*> argv;
  for (auto& s : arg_store) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::string cwd = o.working_dir.string();
  const bool merge_err = o.stderr_to_stdout;
  std::string err_path = merge_err ? std::string() : o.stderr_file.string();

  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return Fail(ErrorCode::kIo, "pipe2: " + Errno(errno));
  int err_fd = -1;
  if (!err_path.empty()) {
    err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (err_fd < 0) {
      int e = errno;
      ::close(out_pipe[0]);
      ::close(out_pipe[1]);
      return Fail(ErrorCode::kIo, "cannot open " + err_path + ": " + Errno(e));
    }
  }
  // The child's side: stdin from /dev/null, stdout (and stderr when merged) into the pipe, stderr
  // into the file, then the working folder. dup2 clears O_CLOEXEC on the target descriptor only,
  // so the pipe's and the file's own descriptors close at exec.
  SpawnSetup setup;
  int rc = setup.Init();
  if (rc == 0) rc = posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&setup.actions, out_pipe[1], 1);
  if (rc == 0 && merge_err) rc = posix_spawn_file_actions_adddup2(&setup.actions, out_pipe[1], 2);
  if (rc == 0 && err_fd >= 0) rc = posix_spawn_file_actions_adddup2(&setup.actions, err_fd, 2);
  if (rc == 0 && !cwd.empty()) rc = posix_spawn_file_actions_addchdir_np(&setup.actions, cwd.c_str());
  if (rc == 0 && o.new_process_group) {
    rc = posix_spawnattr_setflags(&setup.attr, POSIX_SPAWN_SETPGROUP);
    if (rc == 0) rc = posix_spawnattr_setpgroup(&setup.attr, 0);
  }
  const bool prepared = rc == 0;
  pid_t pid = -1;
  if (prepared) {
    rc = o.search_path ? ::posix_spawnp(&pid, argv[0], &setup.actions, &setup.attr, argv.data(), envp.data())
                       : ::posix_spawn(&pid, argv[0], &setup.actions, &setup.attr, argv.data(), envp.data());
  }
  ::close(out_pipe[1]);
  if (err_fd >= 0) ::close(err_fd);
  if (rc != 0) {
    ::close(out_pipe[0]);
    if (!prepared) return Fail(ErrorCode::kIo, "posix_spawn setup: " + Errno(rc));
    // posix_spawn reports the errno of the step that failed in the child, not the step: a working
    // folder that cannot be entered is named as the cause when it is one.
    std::string step = "exec";
    std::error_code ec;
    if (!cwd.empty() && !(std::filesystem::is_directory(cwd, ec) && ::access(cwd.c_str(), X_OK) == 0)) {
      step = "chdir to " + cwd;
    }
    return Fail(ErrorCode::kNotFound, "cannot start " + o.args[0] + " (" + step + "): " + Errno(rc));
  }
  Subprocess p;
  p.pid_ = pid;
  p.stdout_fd_ = out_pipe[0];
  p.stdout_open_ = true;
  p.group_ = o.new_process_group;
  p.program_ = o.args[0];
  ::fcntl(p.stdout_fd_, F_SETFL, ::fcntl(p.stdout_fd_, F_GETFL) | O_NONBLOCK);
  p.pidfd_ = PidfdOpen(pid);
  if (p.pidfd_ >= 0) ::fcntl(p.pidfd_, F_SETFD, FD_CLOEXEC);
  return p;
}

Subprocess::Subprocess(Subprocess&& other) noexcept { *this = std::move(other); }

Subprocess& Subprocess::operator=(Subprocess&& other) noexcept {
  if (this == &other) return *this;
  if (running()) {
    Kill(SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  CloseAll();
  pid_ = std::exchange(other.pid_, -1);
  stdout_fd_ = std::exchange(other.stdout_fd_, -1);
  pidfd_ = std::exchange(other.pidfd_, -1);
  group_ = other.group_;
  stdout_open_ = std::exchange(other.stdout_open_, false);
  partial_ = std::move(other.partial_);
  lines_ = std::move(other.lines_);
  scanned_ = other.scanned_;
  exit_code_ = other.exit_code_;
  peak_rss_bytes_ = other.peak_rss_bytes_;
  program_ = std::move(other.program_);
  return *this;
}

Subprocess::~Subprocess() {
  if (running()) {
    Kill(SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  CloseAll();
}

void Subprocess::CloseAll() {
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  if (pidfd_ >= 0) ::close(pidfd_);
  stdout_fd_ = pidfd_ = -1;
  stdout_open_ = false;
}

bool Subprocess::ReadAvailable() {
  if (!stdout_open_) return false;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(stdout_fd_, buf, sizeof buf);
    if (n > 0) {
      partial_.append(buf, static_cast<std::size_t>(n));
      std::size_t start = 0, nl;
      while ((nl = partial_.find('\n', start)) != std::string::npos) {
        lines_.push_back(partial_.substr(start, nl - start));
        start = nl + 1;
      }
      partial_.erase(0, start);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    // EOF or error: stdout is over.
    if (!partial_.empty()) lines_.push_back(std::move(partial_));
    partial_.clear();
    stdout_open_ = false;
    return false;
  }
}

std::string Subprocess::LastLines(std::size_t n) const {
  std::string s;
  std::size_t from = lines_.size() > n ? lines_.size() - n : 0;
  for (std::size_t i = from; i < lines_.size(); ++i) s += "\n  " + lines_[i];
  return s.empty() ? " (no output)" : s;
}

std::string Subprocess::StdoutText() const {
  std::string s;
  for (const auto& l : lines_) s += l + "\n";
  return s;
}

Result<std::string> Subprocess::WaitForLine(std::string_view prefix, std::chrono::milliseconds timeout) {
  return WaitForLineMatching([prefix](std::string_view line) { return line.starts_with(prefix); },
                             "a line starting with '" + std::string(prefix) + "'", timeout);
}

Result<std::string> Subprocess::WaitForLineMatching(const std::function<bool(std::string_view)>& match,
                                                    std::string_view what, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    for (; scanned_ < lines_.size(); ++scanned_) {
      if (match(lines_[scanned_])) return lines_[scanned_++];
    }
    if (!stdout_open_) {
      return Fail(ErrorCode::kUnavailable, program_ + " ended its output before " + std::string(what) +
                                               "; its last lines:" + LastLines(10));
    }
    int left = RemainingMs(deadline);
    if (left == 0) {
      return Fail(ErrorCode::kDeadlineExceeded, "no " + std::string(what) + " from " + program_ + " within " +
                                                    std::to_string(timeout.count()) + " ms; its last lines:" +
                                                    LastLines(10));
    }
    pollfd pfd{stdout_fd_, POLLIN, 0};
    int r = ::poll(&pfd, 1, left);
    if (r < 0 && errno != EINTR) return Fail(ErrorCode::kIo, "poll: " + Errno(errno));
    if (r > 0) ReadAvailable();
  }
}

void Subprocess::Reap(int status, const rusage& usage) {
  exit_code_ = DecodeStatus(status);
  peak_rss_bytes_ = static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // ru_maxrss is in KiB
  // The child is gone: read whatever its stdout still holds (the write ends are closed, unless a
  // grandchild holds them: then stop at what is there now).
  ReadAvailable();
}

Result<int> Subprocess::Wait(std::chrono::milliseconds timeout) {
  if (exit_code_) return *exit_code_;
  if (pid_ <= 0) return Fail(ErrorCode::kFailedPrecondition, "no child to wait for");
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    rusage usage{};
    pid_t r = ::wait4(pid_, &status, WNOHANG, &usage);
    if (r == pid_) {
      Reap(status, usage);
      return *exit_code_;
    }
    if (r < 0 && errno != EINTR) return Fail(ErrorCode::kIo, "wait4: " + Errno(errno));
    int left = RemainingMs(deadline);
    if (left == 0) {
      return Fail(ErrorCode::kDeadlineExceeded,
                  program_ + " (pid " + std::to_string(pid_) + ") still runs after " + std::to_string(timeout.count()) +
                      " ms");
    }
    pollfd pfds[2];
    nfds_t n = 0;
    if (pidfd_ >= 0) pfds[n++] = {pidfd_, POLLIN, 0};
    if (stdout_open_) pfds[n++] = {stdout_fd_, POLLIN, 0};
    // Without a pidfd, exit is noticed by the wait4 above: re-check every 10 ms.
    int wait_ms = pidfd_ >= 0 ? left : std::min(left, 10);
    int pr = ::poll(pfds, n, wait_ms);
    if (pr < 0 && errno != EINTR) return Fail(ErrorCode::kIo, "poll: " + Errno(errno));
    if (stdout_open_) ReadAvailable();
  }
}

void Subprocess::Kill(int signal) {
  if (pid_ <= 0 || exit_code_) return;
  if (group_) {
    ::kill(-pid_, signal);
  } else {
    ::kill(pid_, signal);
  }
}

Result<RunOutput> RunToCompletion(const SubprocessOptions& options, std::chrono::milliseconds timeout) {
  CAIRN_ASSIGN_OR_RETURN(Subprocess p, Subprocess::Spawn(options));
  CAIRN_ASSIGN_OR_RETURN(int code, p.Wait(timeout));
  return RunOutput{code, p.StdoutText()};
}

}  // namespace cairn::process
