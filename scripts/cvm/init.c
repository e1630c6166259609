// PID 1 of the Cairn aggregator's confidential VM guest (packed by build-initrd.sh, built static).
//
// Mounts the kernel file systems (proc, sys, devtmpfs, configfs for configfs-tsm), configures the
// network from the kernel command line, mounts the state disk, runs
//   /usr/bin/cairn-aggregator run --config /etc/cairn/federation.toml --state-dir /var/lib/cairn/state ...
// and powers the VM off when the aggregator exits. Every setting comes from the kernel command
// line, which measured direct boot hashes into the launch measurement: an operator cannot change
// how the aggregator runs without changing the measurement participants pin.
//
// Kernel command line parameters (all optional):
//   cairn.ip=ADDR/PREFIX   IPv4 address of cairn.if (default: none; loopback only)
//   cairn.gw=ADDR          default gateway
//   cairn.if=NAME          interface to configure (default eth0)
//   cairn.state=DEVICE     block device with the state file system (default: tmpfs, no persistence)
//   cairn.state_fs=TYPE    its file system type (default ext4)
//   cairn.attestation=KIND evidence provider: auto | sev-snp | tdx (default auto)
//   cairn.sealing=KIND     checkpoint sealing: auto | sev-snp | none (default auto)
//   cairn.log_format=F     text | json (default json)
//   cairn.metrics=HOST:PORT  serve /metrics and /healthz there (default off)
//
// Test mode: run as a normal process, `init --dry-run "CMDLINE"` prints what it would do.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CMDLINE 4096

static int dry_run = 0;

struct settings {
  char ip[64], gw[64], ifname[IFNAMSIZ], state[128], state_fs[32], attestation[32], sealing[32],
      log_format[16], metrics[128];
};

static void say(const char* fmt, const char* a, const char* b) {
  fprintf(stderr, "cairn-init: ");
  fprintf(stderr, fmt, a ? a : "", b ? b : "");
  fputc('\n', stderr);
}

// Copies the value of "key=" from a space-separated command line into out (bounded).
static void param(const char* cmdline, const char* key, char* out, size_t out_size) {
  size_t klen = strlen(key);
  const char* p = cmdline;
  while ((p = strstr(p, key)) != NULL) {
    if ((p == cmdline || p[-1] == ' ') && p[klen] == '=') {
      const char* v = p + klen + 1;
      size_t n = strcspn(v, " \n");
      if (n >= out_size) n = out_size - 1;
      memcpy(out, v, n);
      out[n] = '\0';
      return;
    }
    p += klen;
  }
}

static int valid_word(const char* s, const char* allowed) {
  for (const char* w = allowed; *w;) {
    size_t n = strcspn(w, "|");
    if (strlen(s) == n && strncmp(s, w, n) == 0) return 1;
    w += n;
    if (*w == '|') ++w;
  }
  return 0;
}

static void do_mount(const char* source, const char* target, const char* type, unsigned long flags,
                     int required) {
  if (dry_run) {
    printf("mount %s %s %s\n", type, source, target);
    return;
  }
  mkdir(target, 0755);
  if (mount(source, target, type, flags, NULL) != 0) {
    say(required ? "cannot mount %s: %s" : "note: %s not mounted: %s", target, strerror(errno));
    if (required) {
      sync();
      reboot(RB_POWER_OFF);
    }
  }
}

static int set_addr(int fd, const char* ifname, unsigned long request, const char* addr) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  struct sockaddr_in* sin = (struct sockaddr_in*)&ifr.ifr_addr;
  sin->sin_family = AF_INET;
  if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1) return -1;
  return ioctl(fd, request, &ifr);
}

static int link_up(int fd, const char* ifname) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) return -1;
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  return ioctl(fd, SIOCSIFFLAGS, &ifr);
}

static void configure_network(const struct settings* s) {
  if (dry_run) {
    printf("link up lo\n");
    if (s->ip[0]) printf("address %s %s\n", s->ifname, s->ip);
    if (s->gw[0]) printf("route default via %s\n", s->gw);
    return;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    say("no socket for network setup: %s%s", strerror(errno), NULL);
    return;
  }
  if (link_up(fd, "lo") != 0) say("cannot bring up lo: %s%s", strerror(errno), NULL);
  if (s->ip[0]) {
    char addr[64];
    snprintf(addr, sizeof addr, "%s", s->ip);
    int prefix = 24;
    char* slash = strchr(addr, '/');
    if (slash) {
      *slash = '\0';
      prefix = atoi(slash + 1);
    }
    if (prefix < 0 || prefix > 32) prefix = 24;
    char mask[32];
    unsigned long m = prefix == 0 ? 0 : (0xffffffffUL << (32 - prefix)) & 0xffffffffUL;
    snprintf(mask, sizeof mask, "%lu.%lu.%lu.%lu", (m >> 24) & 255, (m >> 16) & 255, (m >> 8) & 255, m & 255);
    if (set_addr(fd, s->ifname, SIOCSIFADDR, addr) != 0 || set_addr(fd, s->ifname, SIOCSIFNETMASK, mask) != 0 ||
        link_up(fd, s->ifname) != 0) {
      say("cannot configure %s: %s", s->ifname, strerror(errno));
    }
  }
  if (s->gw[0]) {
    struct rtentry rt;
    memset(&rt, 0, sizeof rt);
    struct sockaddr_in* gw = (struct sockaddr_in*)&rt.rt_gateway;
    gw->sin_family = AF_INET;
    ((struct sockaddr_in*)&rt.rt_dst)->sin_family = AF_INET;
    ((struct sockaddr_in*)&rt.rt_genmask)->sin_family = AF_INET;
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    if (inet_pton(AF_INET, s->gw, &gw->sin_addr) != 1 || ioctl(fd, SIOCADDRT, &rt) != 0) {
      say("cannot add the default route via %s: %s", s->gw, strerror(errno));
    }
  }
  close(fd);
}

int main(int argc, char** argv) {
  char cmdline[MAX_CMDLINE] = {0};
  if (getpid() != 1) {
    if (argc != 3 || strcmp(argv[1], "--dry-run") != 0) {
      fprintf(stderr, "usage: init --dry-run \"KERNEL COMMAND LINE\" (runs as PID 1 otherwise)\n");
      return 2;
    }
    dry_run = 1;
    snprintf(cmdline, sizeof cmdline, "%s", argv[2]);
  }

  do_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 1);
  do_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, 1);
  do_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, 1);
  do_mount("configfs", "/sys/kernel/config", "configfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0);
  do_mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, 1);
  do_mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, 1);

  if (!dry_run) {
    int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
      if (n > 0) cmdline[n] = '\0';
      close(fd);
    }
  }
  struct settings s = {.ifname = "eth0", .state_fs = "ext4", .attestation = "auto", .sealing = "auto",
                       .log_format = "json"};
  param(cmdline, "cairn.ip", s.ip, sizeof s.ip);
  param(cmdline, "cairn.gw", s.gw, sizeof s.gw);
  param(cmdline, "cairn.if", s.ifname, sizeof s.ifname);
  param(cmdline, "cairn.state", s.state, sizeof s.state);
  param(cmdline, "cairn.state_fs", s.state_fs, sizeof s.state_fs);
  param(cmdline, "cairn.attestation", s.attestation, sizeof s.attestation);
  param(cmdline, "cairn.sealing", s.sealing, sizeof s.sealing);
  param(cmdline, "cairn.log_format", s.log_format, sizeof s.log_format);
  param(cmdline, "cairn.metrics", s.metrics, sizeof s.metrics);
  // Only known values reach the aggregator's arguments.
  if (!valid_word(s.attestation, "auto|sev-snp|tdx")) strcpy(s.attestation, "auto");
  if (!valid_word(s.sealing, "auto|sev-snp|none")) strcpy(s.sealing, "auto");
  if (!valid_word(s.log_format, "text|json")) strcpy(s.log_format, "json");

  configure_network(&s);
  if (s.state[0]) {
    do_mount(s.state, "/var/lib/cairn", s.state_fs, MS_NOSUID | MS_NODEV, 1);
  } else {
    say("no cairn.state device: state lives in memory and is lost at power-off%s%s", NULL, NULL);
    do_mount("tmpfs", "/var/lib/cairn", "tmpfs", MS_NOSUID | MS_NODEV, 1);
  }

  char* args[20];
  int n = 0;
  args[n++] = "/usr/bin/cairn-aggregator";
  args[n++] = "run";
  args[n++] = "--config";
  args[n++] = "/etc/cairn/federation.toml";
  args[n++] = "--state-dir";
  args[n++] = "/var/lib/cairn/state";
  args[n++] = "--attestation";
  args[n++] = s.attestation;
  args[n++] = "--sealing";
  args[n++] = s.sealing;
  args[n++] = "--log-format";
  args[n++] = s.log_format;
  if (s.metrics[0]) {
    args[n++] = "--metrics-listen";
    args[n++] = s.metrics;
  }
  args[n] = NULL;
  if (dry_run) {
    printf("exec");
    for (int i = 0; i < n; ++i) printf(" %s", args[i]);
    printf("\n");
    return 0;
  }

  char* envp[] = {"PATH=/usr/bin:/bin", "HOME=/var/lib/cairn", NULL};
  pid_t child = fork();
  if (child == 0) {
    execve(args[0], args, envp);
    say("cannot run %s: %s", args[0], strerror(errno));
    _exit(127);
  }
  // Reap everything; when the aggregator is gone, flush and power off.
  int status = 0;
  for (;;) {
    pid_t p = wait(&status);
    if (p == child || (p < 0 && errno == ECHILD)) break;
  }
  char code[16];
  snprintf(code, sizeof code, "%d", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  say("cairn-aggregator exited with status %s; powering off%s", code, NULL);
  sync();
  if (s.state[0]) umount("/var/lib/cairn");
  reboot(RB_POWER_OFF);
  return 0;
}
