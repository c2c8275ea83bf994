// The Debian package, as an operator meets it: cpack builds it; its files,
// modes, conffiles, dependencies and maintainer scripts are what
// docs/operations.md says; the unit passes `systemd-analyze verify`; and,
// as root, `dpkg -i` creates the user, the state directory and enables the
// unit without starting it, the installed binary runs as that user with the
// packaged config and tells a NOTIFY_SOCKET the test listens on READY=1
// (after the port answers), RELOADING=1 then READY=1 on SIGHUP and
// STOPPING=1 on SIGTERM; `dpkg -r` and `dpkg -P` leave the machine as it
// was. No running systemd is needed.
//
// Installing touches the machine: the install part holds an exclusive
// flock (/run/lock/sessionsink-package-test.lock, so builds in other
// directories wait their turn), and does nothing when a sessionsink package
// is already installed (it is someone's). Without root it is skipped.
#include <fcntl.h>
#include <httplib.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_util.h"

namespace sink {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Runs a shell command; returns its exit code and puts stdout+stderr in *out.
int Sh(const std::string& cmd, std::string* out = nullptr) {
  std::string text;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) text.append(buf.data(), n);
  const int status = ::pclose(p);
  if (out != nullptr) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool Has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// dpkg, waiting (up to 2 minutes) while apt or dpkg elsewhere on the
// machine holds its lock.
int Dpkg(const std::string& args, std::string* out) {
  const auto start = std::chrono::steady_clock::now();
  int rc = -1;
  for (int i = 0; i < 120; ++i) {
    rc = Sh("DEBIAN_FRONTEND=noninteractive dpkg " + args, out);
    if (rc == 0 || !Has(*out, "lock")) break;
    if (i == 0) std::printf("dpkg %s: waiting for dpkg's lock\n", args.c_str());
    std::this_thread::sleep_for(500ms);
  }
  std::printf("dpkg %s: %.1f s\n", args.c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return rc;
}

// The package, built once for the whole binary into a directory of its own.
class PackageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    std::string arch;
    Sh("dpkg --print-architecture", &arch);
    arch.erase(arch.find_last_not_of('\n') + 1);
    const auto start = std::chrono::steady_clock::now();
    build_rc_ = Sh("cpack -G DEB --config " SINK_BINARY_DIR "/CPackConfig.cmake -B " +
                       dir_->path() + " >/dev/null",
                   &build_log_);
    std::printf("cpack: %.1f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    deb_ = dir_->path() + "/sessionsink_" SESSIONSINK_VERSION_STR "_" + arch + ".deb";
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    ASSERT_EQ(build_rc_, 0) << build_log_;
    ASSERT_TRUE(fs::exists(deb_)) << deb_ << " not made: " << build_log_;
  }

  static test::TempDir* dir_;
  static int build_rc_;
  static std::string build_log_;
  static std::string deb_;
};
test::TempDir* PackageTest::dir_ = nullptr;
int PackageTest::build_rc_ = -1;
std::string PackageTest::build_log_;
std::string PackageTest::deb_;

TEST_F(PackageTest, FilesModesConffilesAndScripts) {
  std::string info, files;
  ASSERT_EQ(Sh("dpkg-deb -I " + deb_, &info), 0) << info;
  EXPECT_TRUE(Has(info, "Package: sessionsink")) << info;
  EXPECT_TRUE(Has(info, "Version: " SESSIONSINK_VERSION_STR)) << info;
  // dpkg-shlibdeps computed the libraries; the scripts' tools are named.
  for (const char* dep :
       {"libsqlite3-0", "librdkafka1", "libssl3", "libc6", "adduser", "init-system-helpers"}) {
    EXPECT_TRUE(Has(info, dep)) << dep << " missing from Depends: " << info;
  }
  ASSERT_EQ(Sh("dpkg-deb -c " + deb_, &files), 0) << files;
  const std::pair<const char*, const char*> expected[] = {
      {"-rwxr-xr-x root/root", "./usr/bin/sessionsink"},
      {"-rw------- root/root", "./etc/sessionsink/sessionsink.conf"},
      {"-rw-r--r-- root/root", "./lib/systemd/system/sessionsink.service"},
      {"-rw-r--r-- root/root", "./usr/share/sessionsink/sql/media.sql"},
      {"-rw-r--r-- root/root", "./usr/share/doc/sessionsink/operations.md"},
  };
  for (const auto& [mode, path] : expected) {
    const std::regex line(std::string("(^|\n)") + mode + " +[0-9]+ [0-9-]+ [0-9:]+ " + path + "\n");
    EXPECT_TRUE(std::regex_search(files, line)) << mode << " " << path << " not in:\n" << files;
  }
  const std::string control = dir_->path() + "/control";
  ASSERT_EQ(Sh("dpkg-deb -e " + deb_ + " " + control), 0);
  EXPECT_EQ(test::ReadFile(control + "/conffiles"), "/etc/sessionsink/sessionsink.conf\n");
  const std::string postinst = test::ReadFile(control + "/postinst");
  EXPECT_TRUE(Has(postinst, "adduser --system")) << postinst;
  EXPECT_TRUE(Has(postinst, "deb-systemd-helper enable sessionsink.service")) << postinst;
  EXPECT_FALSE(Has(postinst, "deb-systemd-invoke start")) << "a first install starts nothing";
  EXPECT_TRUE(Has(test::ReadFile(control + "/postrm"), "deluser --system"));
  EXPECT_TRUE(Has(test::ReadFile(control + "/prerm"), "deb-systemd-invoke stop"));
  struct stat st {};
  ASSERT_EQ(::stat((control + "/postinst").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
}

TEST_F(PackageTest, TheUnitVerifies) {
  if (Sh("command -v systemd-analyze") != 0) {
    GTEST_SKIP() << "systemd-analyze is not installed (package systemd; scripts/deps.sh "
                    "installs it)";
  }
  // The unit as packaged, its binary pointed at the one just built (the
  // installed one is verified by the install test).
  const std::string root = dir_->path() + "/root";
  ASSERT_EQ(Sh("dpkg-deb -x " + deb_ + " " + root), 0);
  const std::string unit = dir_->path() + "/sessionsink.service";
  ASSERT_EQ(Sh("sed 's#/usr/bin/sessionsink#" SESSIONSINK_BIN "#' " + root +
               "/lib/systemd/system/sessionsink.service > " + unit),
            0);
  std::string out;
  EXPECT_EQ(Sh("systemd-analyze verify " + unit, &out), 0) << out;
  EXPECT_EQ(out, "") << out;
  const std::string unit_text = test::ReadFile(unit);
  for (const char* want :
       {"Type=notify", "User=sessionsink", "StateDirectory=sessionsink",
        "ExecStartPre=" SESSIONSINK_BIN " check-config",
        "ExecReload=" SESSIONSINK_BIN " check-config", "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure", "LimitNOFILE=", "ProtectSystem=strict", "NoNewPrivileges=yes",
        "SystemCallFilter=@system-service", "CapabilityBoundingSet=\n",
        "MemoryDenyWriteExecute=yes", "UMask=077"}) {
    EXPECT_TRUE(Has(unit_text, want)) << want;
  }
  // The exposure score stays "OK" (docs/operations.md quotes it).
  EXPECT_EQ(Sh("systemd-analyze security --offline=true --threshold=20 " + unit, &out), 0) << out;
  EXPECT_TRUE(Has(out, "Overall exposure level for sessionsink.service: 1.")) << out;
}

// The installed binary, run as the sessionsink user, its stderr kept.
class Service {
 public:
  bool Start(const std::vector<std::string>& env) {
    int fds[2];
    if (::pipe(fds) != 0) return false;
    std::vector<std::string> env_s = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
    env_s.insert(env_s.end(), env.begin(), env.end());
    std::vector<char*> envp;
    for (std::string& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 2);
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      ::close(fds[1]);
      const char* argv[] = {"setpriv",
                            "--reuid=sessionsink",
                            "--regid=sessionsink",
                            "--init-groups",
                            "--",
                            "/usr/bin/sessionsink",
                            "serve",
                            "--config",
                            "/etc/sessionsink/sessionsink.conf",
                            nullptr};
      ::execve("/usr/bin/setpriv", const_cast<char**>(argv), envp.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    reader_ = std::thread([this, fd = fds[0]] {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) {
        std::lock_guard<std::mutex> lock(mu_);
        log_.append(buf, static_cast<size_t>(n));
      }
      ::close(fd);
    });
    return pid_ > 0;
  }
  int Port() const {
    static const std::regex kListening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
    std::smatch m;
    const std::string l = log();
    return std::regex_search(l, m, kListening) ? std::stoi(m[1]) : 0;
  }
  int Wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    if (reader_.joinable()) reader_.join();
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  void Signal(int sig) const { ::kill(pid_, sig); }
  // The log is read from a pipe: a line written before a notification may
  // arrive after it.
  bool WaitLog(const std::string& what) const {
    for (int i = 0; i < 500; ++i) {
      if (Has(log(), what)) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
  std::string log() const {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  ~Service() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      Wait();
    }
    if (reader_.joinable()) reader_.join();
  }

 private:
  pid_t pid_ = -1;
  std::thread reader_;
  mutable std::mutex mu_;
  std::string log_;
};

// What the install may leave behind, to compare before and after.
std::string MachineState() {
  std::string out;
  Sh("getent passwd sessionsink; getent group sessionsink; ls -d /etc/sessionsink "
     "/var/lib/sessionsink /usr/bin/sessionsink /lib/systemd/system/sessionsink.service; "
     "find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled "
     "/var/lib/systemd/deb-systemd-helper-masked -name 'sessionsink*' | sort",
     &out);
  return out;
}

TEST_F(PackageTest, InstallRunAsTheServiceUserRemoveAndPurge) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "installing the package needs root (dpkg -i); run the suite as root, as CI "
                    "does";
  }
  int lock = ::open("/run/lock/sessionsink-package-test.lock", O_CREAT | O_RDWR, 0600);
  if (lock < 0) lock = ::open("/tmp/sessionsink-package-test.lock", O_CREAT | O_RDWR, 0600);
  ASSERT_GE(lock, 0);
  const auto waited = std::chrono::steady_clock::now();
  ASSERT_EQ(::flock(lock, LOCK_EX), 0);  // another build directory's run waits here
  std::printf("lock: %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - waited).count());
  struct Unlock {
    int fd;
    ~Unlock() { ::close(fd); }
  } unlock{lock};
  if (Sh("dpkg-query -W -f='${Status}' sessionsink 2>/dev/null | grep -q 'install ok'") == 0) {
    GTEST_SKIP() << "a sessionsink package is already installed on this machine: not touching it";
  }
  const std::string before = MachineState();
  std::string out;
  ASSERT_EQ(Dpkg("-i " + deb_, &out), 0) << out;
  struct Purge {  // whatever happens below, the machine is left as it was
    ~Purge() {
      std::string ignored;
      Dpkg("-P sessionsink", &ignored);
    }
  } purge;

  // The user, its state directory, the config readable only by it, the
  // unit enabled (a link under multi-user.target.wants) and not started.
  const passwd* pw = ::getpwnam("sessionsink");
  ASSERT_NE(pw, nullptr);
  const uid_t uid = pw->pw_uid;
  EXPECT_NE(uid, 0u);
  EXPECT_STREQ(pw->pw_dir, "/var/lib/sessionsink");
  struct stat st {};
  ASSERT_EQ(::stat("/var/lib/sessionsink", &st), 0);
  EXPECT_EQ(st.st_uid, uid);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
  ASSERT_EQ(::stat("/etc/sessionsink/sessionsink.conf", &st), 0);
  EXPECT_EQ(st.st_uid, uid);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(fs::is_symlink("/etc/systemd/system/multi-user.target.wants/sessionsink.service"));
  if (Sh("command -v systemd-analyze") == 0) {
    EXPECT_EQ(Sh("systemd-analyze verify /lib/systemd/system/sessionsink.service", &out), 0) << out;
  }
  // The unit's ExecStartPre, as the unit's user.
  EXPECT_EQ(Sh("setpriv --reuid=sessionsink --regid=sessionsink --init-groups "
               "/usr/bin/sessionsink check-config --quiet --config "
               "/etc/sessionsink/sessionsink.conf",
               &out),
            0)
      << out;

  // The service as the unit starts it, on a free port (the environment
  // overrides the file's listen, so the test never takes 8080).
  test::TempDir tmp;
  ::chmod(tmp.path().c_str(), 0711);
  test::NotifySocket notify(tmp.File("notify"));
  ASSERT_TRUE(notify.bound());
  Service svc;
  ASSERT_TRUE(svc.Start({"NOTIFY_SOCKET=" + tmp.File("notify"), "SESSIONSINK_LISTEN=127.0.0.1:0"}));
  const std::string ready = notify.WaitFor("READY=1");
  ASSERT_NE(ready, "") << svc.log();
  EXPECT_TRUE(Has(ready, "STATUS=serving http://127.0.0.1:")) << ready;
  // The listening line may reach the pipe's reader after READY=1.
  int port = 0;
  for (int i = 0; i < 500 && (port = svc.Port()) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(port, 0) << svc.log();
  {  // READY=1 came after the port answers: the README's first curl works now.
    httplib::Client cli("127.0.0.1", port);
    auto r =
        cli.Post("/events", test::ReadFile(SINK_SOURCE_DIR "/docs/examples/flussonic-batch.json"),
                 "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(Has(r->body, "\"accepted\":9")) << r->body;
  }
  svc.Signal(SIGHUP);
  EXPECT_NE(notify.WaitFor("RELOADING=1"), "") << notify.seen() << svc.log();
  EXPECT_NE(notify.WaitFor("READY=1"), "") << notify.seen();
  EXPECT_TRUE(svc.WaitLog("configuration reloaded from /etc/sessionsink/sessionsink.conf"))
      << svc.log();
  svc.Signal(SIGTERM);
  EXPECT_NE(notify.WaitFor("STOPPING=1"), "") << notify.seen();
  EXPECT_EQ(svc.Wait(), 0) << svc.log();
  ASSERT_EQ(::stat("/var/lib/sessionsink/sessions.db", &st), 0) << svc.log();
  EXPECT_EQ(st.st_uid, uid);

  // remove: the binary and the unit go; configuration, data and user stay.
  ASSERT_EQ(Dpkg("-r sessionsink", &out), 0) << out;
  EXPECT_FALSE(fs::exists("/usr/bin/sessionsink"));
  EXPECT_FALSE(fs::exists("/lib/systemd/system/sessionsink.service"));
  EXPECT_TRUE(fs::exists("/etc/sessionsink/sessionsink.conf"));
  EXPECT_TRUE(fs::exists("/var/lib/sessionsink/sessions.db"));
  EXPECT_EQ(Sh("getent passwd sessionsink >/dev/null"), 0);
  // purge: nothing left.
  ASSERT_EQ(Dpkg("-P sessionsink", &out), 0) << out;
  EXPECT_EQ(MachineState(), before);
  EXPECT_NE(Sh("dpkg-query -W -f='${Status}' sessionsink 2>/dev/null | grep -q 'install ok'"), 0);
}

}  // namespace
}  // namespace sink
