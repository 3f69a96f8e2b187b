/* Open-loop HTTP/1.1 load: request i is due at t0 + i / rate, whatever happened before.
 *
 * Latency is measured from the due time, so a request that waits for a free connection
 * counts that wait (no coordinated omission). Paths come from a file, one per line, used in
 * turn. The client spins on epoll with a zero timeout: it owns its core (the load core), and
 * sleeping would make sends late by the kernel's timer slack.
 *
 *   _openloop HOST PORT RATE SECONDS CONNECTIONS PATHS_FILE
 *
 * Prints one line: "sent done failed achieved_rps p50_ms p99_ms p999_ms max_ms stalled_ms
 * longest_stall_ms steady_p99_ms steady_count".
 *
 * The client's own stalls: it spins, so a pass of its loop that starts more than STALL_S after
 * the previous one means it was not running (preempted, or its virtual CPU not scheduled by
 * the host). Requests that fell due inside such a gap were sent late by the client, whatever
 * the server did; `steady_p99_ms` is the P99 of the others (`steady_count` of them).
 * Built by benchmarks/_load.py with the system C compiler.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUFFER 65536
#define DRAIN_S 5.0
#define STALL_S 0.001
#define MAX_STALLS 100000

typedef struct {
    int fd;
    long request;  /* index of the request in flight, -1 when idle */
    size_t filled;
    char buffer[BUFFER];
} Connection;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Whether `due` falls inside one of the `count` stalls (sorted, disjoint [start, end)). */
static int in_stall(const double *starts, const double *ends, long count, double due) {
    long low = 0, high = count;
    while (low < high) {
        long middle = (low + high) / 2;
        if (ends[middle] <= due) low = middle + 1;
        else high = middle;
    }
    return low < count && starts[low] < due;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int open_connection(const char *host, int port, int epoll, Connection *c) {
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1;
    if (inet_pton(AF_INET, host, &address.sin_addr) != 1) return -1;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&address, sizeof address) != 0) return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = c};
    c->request = -1;
    c->filled = 0;
    return epoll_ctl(epoll, EPOLL_CTL_ADD, c->fd, &event);
}

/* Length of a complete response in the buffer (head + body), 0 when more bytes are needed. */
static size_t complete_length(const Connection *c) {
    const char *end = memmem(c->buffer, c->filled, "\r\n\r\n", 4);
    if (end == NULL) return 0;
    size_t head = (size_t)(end - c->buffer) + 4, body = 0;
    for (const char *line = c->buffer; line < end; line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "content-length:", 15) == 0) body = strtoul(line + 15, NULL, 10);
    }
    return c->filled >= head + body ? head + body : 0;
}

static char **read_paths(const char *file, long *count) {
    FILE *handle = fopen(file, "r");
    if (handle == NULL) return NULL;
    char **paths = NULL, line[2048];
    long size = 0;
    while (fgets(line, sizeof line, handle)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        paths = realloc(paths, (size_t)(size + 1) * sizeof *paths);
        paths[size++] = strdup(line);
    }
    fclose(handle);
    *count = size;
    return paths;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s HOST PORT RATE SECONDS CONNECTIONS PATHS_FILE\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]), connections = atoi(argv[5]);
    double rate = atof(argv[3]), seconds = atof(argv[4]);
    long path_count = 0, total = (long)(rate * seconds);
    char **paths = read_paths(argv[6], &path_count);
    if (paths == NULL || path_count == 0 || rate <= 0 || connections <= 0 || total <= 0) {
        fprintf(stderr, "bad arguments or empty paths file\n");
        return 2;
    }
    int epoll = epoll_create1(0);
    Connection *pool = calloc((size_t)connections, sizeof *pool);
    long *queue = malloc((size_t)total * sizeof *queue);  /* due requests awaiting a connection */
    double *latency = malloc((size_t)total * sizeof *latency);
    double *due_at = malloc((size_t)total * sizeof *due_at);
    double *steady_latency = malloc((size_t)total * sizeof *steady_latency);
    double *stall_start = malloc(MAX_STALLS * sizeof *stall_start);
    double *stall_end = malloc(MAX_STALLS * sizeof *stall_end);
    long stalls = 0;
    double stalled = 0, longest = 0;
    for (int i = 0; i < connections; i++) {
        if (open_connection(host, port, epoll, &pool[i]) != 0) {
            perror("connect");
            return 1;
        }
    }
    long next = 0, queued_head = 0, queued_tail = 0, done = 0, failed = 0;
    double start = now_s() + 0.01, last_due = start + (double)(total - 1) / rate;
    char request[4096];
    struct epoll_event events[256];
    double previous = start;
    while (done + failed < total && now_s() < last_due + DRAIN_S) {
        double now = now_s();
        /* Stalls count while requests fall due (not in the drain after the last one). */
        if (now - previous > STALL_S && now > start && previous < last_due) {
            double from = previous > start ? previous : start;
            stalled += now - from;
            longest = now - from > longest ? now - from : longest;
            if (stalls < MAX_STALLS) {
                stall_start[stalls] = from;
                stall_end[stalls++] = now;
            }
        }
        previous = now;
        while (next < total && start + (double)next / rate <= now) queue[queued_tail++] = next++;
        for (int i = 0; i < connections && queued_head < queued_tail; i++) {
            Connection *c = &pool[i];
            if (c->request >= 0) continue;
            long index = queue[queued_head++];
            int length = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n",
                                  paths[index % path_count], host);
            if (send(c->fd, request, (size_t)length, MSG_NOSIGNAL) != length) {
                failed++;
                continue;
            }
            c->request = index;
        }
        int ready = epoll_wait(epoll, events, 256, 0);
        for (int e = 0; e < ready; e++) {
            Connection *c = events[e].data.ptr;
            ssize_t got = recv(c->fd, c->buffer + c->filled, BUFFER - c->filled, 0);
            if (got <= 0 && !(got < 0 && errno == EAGAIN)) {
                /* Closed by the server: the request in flight failed; reconnect. */
                if (c->request >= 0) failed++;
                epoll_ctl(epoll, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                if (open_connection(host, port, epoll, c) != 0) return 1;
                continue;
            }
            if (got > 0) c->filled += (size_t)got;
            size_t length = complete_length(c);
            if (length == 0 || c->request < 0) continue;
            if (strncmp(c->buffer, "HTTP/1.1 200", 12) == 0) {
                due_at[done] = start + (double)c->request / rate;
                latency[done] = now_s() - due_at[done];
                done++;
            } else {
                failed++;
            }
            memmove(c->buffer, c->buffer + length, c->filled - length);
            c->filled -= length;
            c->request = -1;
        }
    }
    double elapsed = now_s() - start;
    if (done == 0) {
        printf("%ld 0 %ld 0 0 0 0 0 %.3f %.3f 0 0\n", next, total - done, 1e3 * stalled,
               1e3 * longest);
        return 0;
    }
    long steady = 0;
    for (long i = 0; i < done; i++)
        if (!in_stall(stall_start, stall_end, stalls, due_at[i]))
            steady_latency[steady++] = latency[i];
    qsort(steady_latency, (size_t)steady, sizeof *steady_latency, compare_doubles);
    qsort(latency, (size_t)done, sizeof *latency, compare_doubles);
    printf("%ld %ld %ld %.1f %.3f %.3f %.3f %.3f %.3f %.3f %.3f %ld\n", next, done, total - done,
           (double)done / elapsed, 1e3 * latency[done / 2], 1e3 * latency[done * 99 / 100],
           1e3 * latency[done * 999 / 1000], 1e3 * latency[done - 1], 1e3 * stalled,
           1e3 * longest, steady ? 1e3 * steady_latency[steady * 99 / 100] : 0.0, steady);
    return 0;
}
