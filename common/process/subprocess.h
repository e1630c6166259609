// Child processes for the multi-process tests and for cairn-bench: spawn a binary with arguments
// and environment, read its stdout line by line through a pipe, wait for a readiness line or for
// exit with a timeout (poll(2) on the pipe and a pidfd: no sleeps), and kill it.
//
// The child is started with posix_spawn (vfork semantics: cheap for a large or multi-threaded
// parent). Its peak RSS comes from wait4 when it is reaped; a child spawned after the parent has
// grown reports the parent's RSS as its starting maximum (docs/masking.md), so the figure is the
// child's own only while the parent stays smaller (cairn-bench measures its first run for that).
//
// Ownership: a Subprocess owns its child. Destroying it while the child runs sends SIGKILL (to
// the child's process group when `new_process_group` is set) and reaps it, so a failing caller
// never leaves processes behind. Move-only.
//
// Thread safety: none; one thread uses a Subprocess.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/error.h"

namespace cairn::process {

struct SubprocessOptions {
  // argv: args[0] is the program, a path (no PATH search unless `search_path`).
  std::vector<std::string> args;
  bool search_path = false;
  // The child's environment: the parent's (when inherit_env) with these set or replaced.
  bool inherit_env = true;
  std::map<std::string, std::string> env;
  // Working folder of the child; empty = the parent's.
  std::filesystem::path working_dir;
  // Where the child's stderr goes: a file (created or truncated), or the parent's stderr when
  // empty. stdout is always the pipe read by WaitForLine/Wait; stdin is /dev/null.
  std::filesystem::path stderr_file;
  // Send stderr into the stdout pipe too (overrides stderr_file): wait on log lines.
  bool stderr_to_stdout = false;
  // Put the child in its own process group, so Kill() also reaches what it spawned (scripts).
  // Off, the child stays in the parent's group: a Ctrl-C at the terminal reaches both.
  bool new_process_group = true;
};

class Subprocess {
 public:
  // Errors: kInvalidArgument for empty args; kNotFound when the program cannot be executed or
  // the working folder entered (the message names it and errno); kIo for pipe/spawn failures.
  static Result<Subprocess> Spawn(const SubprocessOptions& options);

  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&& other) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !exit_code_; }

  // Reads stdout until a line that starts with `prefix` and returns it (without the newline).
  // Lines read on the way are kept (stdout_lines()). kDeadlineExceeded after `timeout`;
  // kUnavailable when stdout ends first (the process exited or closed it), with its last lines.
  Result<std::string> WaitForLine(std::string_view prefix, std::chrono::milliseconds timeout);
  // The same with any condition on the line; `what` describes it for the error message.
  Result<std::string> WaitForLineMatching(const std::function<bool(std::string_view)>& match,
                                          std::string_view what, std::chrono::milliseconds timeout);

  // Waits for the child to exit, reading its stdout meanwhile (a full pipe never blocks it).
  // Returns the exit status, or 128 + N when signal N killed it. kDeadlineExceeded after
  // `timeout` (the child keeps running). After exit, the rest of stdout is read to its end.
  Result<int> Wait(std::chrono::milliseconds timeout);

  // Sends `signal` (to the process group with new_process_group). No-op once reaped.
  void Kill(int signal = SIGKILL);

  // Every complete stdout line read so far, and a final unterminated line once stdout ended.
  const std::vector<std::string>& stdout_lines() const { return lines_; }
  std::string StdoutText() const;
  std::optional<int> exit_code() const { return exit_code_; }
  // The child's peak resident set size in bytes (wait4's ru_maxrss), once Wait has reaped it.
  std::optional<std::uint64_t> peak_rss_bytes() const { return peak_rss_bytes_; }

 private:
  Subprocess() = default;
  // Reads what is available (non-blocking); false at end of stdout.
  bool ReadAvailable();
  void Reap(int status, const rusage& usage);
  void CloseAll();
  std::string LastLines(std::size_t n) const;

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int pidfd_ = -1;  // -1 when the kernel has no pidfd_open: Wait polls wait4 every 10 ms then
  bool group_ = false;
  bool stdout_open_ = false;
  std::string partial_;
  std::vector<std::string> lines_;
  std::size_t scanned_ = 0;  // lines already checked by WaitForLine
  std::optional<int> exit_code_;
  std::optional<std::uint64_t> peak_rss_bytes_;
  std::string program_;
};

// Runs a program to completion and returns its exit status and stdout (stderr as configured).
struct RunOutput {
  int exit_code = 0;
  std::string stdout_text;
};
Result<RunOutput> RunToCompletion(const SubprocessOptions& options, std::chrono::milliseconds timeout);

}  // namespace cairn::process
