/* maxrss: run a command and print its peak resident set size in KiB.
 * A tiny static parent spawned with posix_spawn (vfork semantics), so the
 * figure is the command's own, not inflated by a large forking parent. */
#include <spawn.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv) {
    pid_t pid;
    int status;
    struct rusage ru;
    if (argc < 2) {
        fprintf(stderr, "usage: maxrss COMMAND [ARG...]\n");
        return 2;
    }
    if (posix_spawnp(&pid, argv[1], NULL, NULL, argv + 1, environ) != 0) {
        perror("posix_spawnp");
        return 2;
    }
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("wait4");
        return 2;
    }
    fprintf(stderr, "%ld\n", ru.ru_maxrss);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
