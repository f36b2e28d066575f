/* The floor under bench/python_bench.py's request/response figures: a C echo server and a C
 * client moving the same 76-byte frames over loopback with TCP_NODELAY, one blocking send and
 * one recv per message on each side. No language runtime, no framing, no JSON: what is left is
 * the kernel's TCP path and the two wake-ups of every exchange. The client sends the frame it is
 * given (in hex), so it also runs against a jsocket server.
 *
 *   cc -O2 -o target/python_ceiling bench/python_ceiling.c -lpthread
 *   target/python_ceiling server                  # prints its port, echoes until stdin closes
 *   target/python_ceiling client PORT SECS FRAME  # prints {"rate": ..., "count": ..., "cpu_us": ...}
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FRAME 4096

static void nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void *echo(void *arg) {
    int fd = (int)(long)arg;
    char buf[65536];
    ssize_t n;
    nodelay(fd);
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {
        ssize_t off = 0;
        while (off < n) {
            ssize_t m = send(fd, buf + off, (size_t)(n - off), 0);
            if (m <= 0) goto out;
            off += m;
        }
    }
out:
    close(fd);
    return NULL;
}

static void *accepter(void *arg) {
    int listener = (int)(long)arg;
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) continue;
        pthread_t t;
        pthread_create(&t, NULL, echo, (void *)(long)fd);
        pthread_detach(t);
    }
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (argc >= 2 && strcmp(argv[1], "server") == 0) {
        int listener = socket(AF_INET, SOCK_STREAM, 0);
        socklen_t len = sizeof addr;
        if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
            listen(listener, 128) != 0 || getsockname(listener, (struct sockaddr *)&addr, &len) != 0) {
            perror("listen");
            return 1;
        }
        printf("%d\n", ntohs(addr.sin_port));
        fflush(stdout);
        pthread_t t;
        pthread_create(&t, NULL, accepter, (void *)(long)listener);
        char sink[256];
        while (fread(sink, 1, sizeof sink, stdin) > 0) {
        }
        return 0;
    }
    if (argc >= 5 && strcmp(argv[1], "client") == 0) {
        static char frame[MAX_FRAME], buf[MAX_FRAME];
        const char *hex = argv[4];
        size_t len = strlen(hex) / 2;
        if (len == 0 || len > MAX_FRAME) {
            fprintf(stderr, "a frame of 1 to %d bytes, in hex\n", MAX_FRAME);
            return 2;
        }
        for (size_t i = 0; i < len; i++) {
            unsigned byte;
            if (sscanf(hex + 2 * i, "%2x", &byte) != 1) {
                fprintf(stderr, "not hex: %s\n", hex);
                return 2;
            }
            frame[i] = (char)byte;
        }
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        addr.sin_port = htons((unsigned short)atoi(argv[2]));
        double duration = atof(argv[3]);
        if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
            perror("connect");
            return 1;
        }
        nodelay(fd);
        long count = 0;
        double start = now(), end = start + duration;
        while (now() < end) {
            if (send(fd, frame, len, 0) != (ssize_t)len) {
                perror("send");
                return 1;
            }
            size_t want = len;
            while (want) {
                ssize_t n = recv(fd, buf, want, 0);
                if (n <= 0) {
                    fprintf(stderr, "recv: %s\n", n == 0 ? "closed by the server" : "failed");
                    return 1;
                }
                want -= (size_t)n;
            }
            count++;
        }
        double elapsed = now() - start;
        close(fd);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        printf("{\"rate\": %f, \"count\": %ld, \"cpu_us\": %f}\n", (double)count / elapsed, count,
               count ? cpu / (double)count * 1e6 : 0.0);
        return 0;
    }
    fprintf(stderr, "usage: %s server | client PORT SECONDS FRAME_HEX\n", argv[0]);
    return 2;
}
