// common/process/subprocess.h: the Subprocess helper the multi-process tests and cairn-bench rely on.
#include "common/process/subprocess.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace cairn::process {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

SubprocessOptions Sh(std::string script) {
  SubprocessOptions o;
  o.args = {"/bin/sh", "-c", std::move(script)};
  return o;
}

TEST(Subprocess, WaitsForAReadinessLineThenExit) {
  auto p = Subprocess::Spawn(Sh("echo starting; echo 'ready at tcp://x'; echo after"));
  ASSERT_TRUE(p) << p.error().message();
  auto line = p->WaitForLine("ready", seconds(30));
  ASSERT_TRUE(line) << line.error().message();
  EXPECT_EQ(*line, "ready at tcp://x");
  auto code = p->Wait(seconds(30));
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0);
  EXPECT_EQ(p->stdout_lines(), (std::vector<std::string>{"starting", "ready at tcp://x", "after"}));
  EXPECT_FALSE(p->running());
  // A second wait returns the same status.
  EXPECT_EQ(*p->Wait(seconds(1)), 0);
}

TEST(Subprocess, LinesAreMatchedInOrderOnce) {
  auto p = Subprocess::Spawn(Sh("echo 'r 1'; echo 'r 2'"));
  ASSERT_TRUE(p);
  EXPECT_EQ(*p->WaitForLine("r ", seconds(30)), "r 1");
  EXPECT_EQ(*p->WaitForLine("r ", seconds(30)), "r 2");
  auto none = p->WaitForLineMatching([](std::string_view l) { return l.find('3') != std::string_view::npos; },
                                     "a line with 3", seconds(30));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(none.error().message().find("r 2"), std::string::npos) << "names the last lines";
}

TEST(Subprocess, PeakRssIsKnownOnceReaped) {
  auto p = Subprocess::Spawn(Sh("exit 0"));
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->peak_rss_bytes());
  ASSERT_EQ(*p->Wait(seconds(30)), 0);
  ASSERT_TRUE(p->peak_rss_bytes());
  EXPECT_GT(*p->peak_rss_bytes(), 0u);
}

TEST(Subprocess, ExitCodesAndSignals) {
  auto p = Subprocess::Spawn(Sh("exit 3"));
  ASSERT_TRUE(p);
  EXPECT_EQ(*p->Wait(seconds(30)), 3);
  auto q = Subprocess::Spawn(Sh("kill -TERM $$"));
  ASSERT_TRUE(q);
  EXPECT_EQ(*q->Wait(seconds(30)), 128 + SIGTERM);
}

TEST(Subprocess, TimeoutsLeaveTheChildRunningUntilKilled) {
  auto p = Subprocess::Spawn(Sh("echo up; exec sleep 600"));
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->WaitForLine("up", seconds(30)));
  auto line = p->WaitForLine("never", milliseconds(50));
  ASSERT_FALSE(line);
  EXPECT_EQ(line.error().code(), ErrorCode::kDeadlineExceeded);
  auto code = p->Wait(milliseconds(50));
  ASSERT_FALSE(code);
  EXPECT_EQ(code.error().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_TRUE(p->running());
  p->Kill(SIGKILL);
  EXPECT_EQ(*p->Wait(seconds(30)), 128 + SIGKILL);
}

TEST(Subprocess, EnvironmentAndWorkingFolder) {
  auto o = Sh("echo \"$CAIRN_PROCESS_TEST\"; echo \"${HOME:-no-home}\"; pwd");
  o.env["CAIRN_PROCESS_TEST"] = "42";
  o.working_dir = "/";
  auto r = RunToCompletion(o, seconds(30));
  ASSERT_TRUE(r) << r.error().message();
  std::istringstream lines(r->stdout_text);
  std::string a, b, c;
  std::getline(lines, a);
  std::getline(lines, b);
  std::getline(lines, c);
  EXPECT_EQ(a, "42");
  EXPECT_EQ(c, "/");
  o.inherit_env = false;
  o.env = {{"PATH", "/usr/bin:/bin"}};
  r = RunToCompletion(o, seconds(30));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stdout_text, "\nno-home\n/\n");
}

TEST(Subprocess, StderrToAFileOrIntoStdout) {
  auto dir = std::filesystem::temp_directory_path() / ("cairn-process-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto o = Sh("echo out; echo err >&2");
  o.stderr_file = dir / "err.log";
  auto r = RunToCompletion(o, seconds(30));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stdout_text, "out\n");
  std::ifstream f(dir / "err.log");
  std::string text((std::istreambuf_iterator<char>(f)), {});
  EXPECT_EQ(text, "err\n");
  o.stderr_to_stdout = true;
  r = RunToCompletion(o, seconds(30));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stdout_text, "out\nerr\n");
  std::filesystem::remove_all(dir);
}

TEST(Subprocess, MuchOutputNeverBlocksTheChild) {
  auto r = RunToCompletion(Sh("i=0; while [ $i -lt 50000 ]; do echo \"line $i\"; i=$((i+1)); done"), seconds(120));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(std::count(r->stdout_text.begin(), r->stdout_text.end(), '\n'), 50000);
}

TEST(Subprocess, UnterminatedLastLineIsKept) {
  auto r = RunToCompletion(Sh("printf 'a\\nb'"), seconds(30));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stdout_text, "a\nb\n");
}

TEST(Subprocess, MissingProgramIsNotFound) {
  SubprocessOptions o;
  o.args = {"/nonexistent/cairn-program"};
  auto p = Subprocess::Spawn(o);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(p.error().message().find("/nonexistent/cairn-program"), std::string::npos);
  o.args = {};
  EXPECT_FALSE(Subprocess::Spawn(o));
  auto bad_dir = Sh("true");
  bad_dir.working_dir = "/nonexistent-folder";
  auto q = Subprocess::Spawn(bad_dir);
  ASSERT_FALSE(q);
  EXPECT_NE(q.error().message().find("chdir"), std::string::npos) << q.error().message();
}

TEST(Subprocess, SearchPathFindsPrograms) {
  SubprocessOptions o;
  o.args = {"sh", "-c", "echo found"};
  o.search_path = true;
  auto r = RunToCompletion(o, seconds(30));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->stdout_text, "found\n");
}

TEST(Subprocess, DestructorKillsAndMoveTransfersOwnership) {
  pid_t pid = -1;
  {
    auto p = Subprocess::Spawn(Sh("exec sleep 600"));
    ASSERT_TRUE(p);
    Subprocess owner = std::move(*p);
    EXPECT_FALSE(p->running());
    EXPECT_TRUE(owner.running());
    pid = owner.pid();
  }
  // Reaped by the destructor: the pid is no longer our child.
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

}  // namespace
}  // namespace cairn::process
