/* Disk writer for the triage tests: N threads, each rewriting its own 16 MiB file in 64 KiB
   writes with fdatasync after each (the file system never fills; the disk stays busy). */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *dir;

static void *writer(void *arg)
{
    static char buf[65536];
    char path[4096];
    snprintf(path, sizeof path, "%s/w%ld", dir, (long)arg);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd < 0)
        exit(1);
    memset(buf, 'x', sizeof buf);
    for (off_t off = 0;; off = (off + sizeof buf) % (16 << 20)) {
        if (pwrite(fd, buf, sizeof buf, off) != sizeof buf)
            exit(2);
        fdatasync(fd);
    }
    return 0;
}

int main(int argc, char **argv)
{
    dir = argv[1];
    int n = argc > 2 ? atoi(argv[2]) : 4;
    pthread_t t;
    for (long i = 1; i < n; i++)
        pthread_create(&t, 0, writer, (void *)i);
    writer(0);
    return 0;
}
