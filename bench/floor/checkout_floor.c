/*
 * The floor of the checkout-rate scenario: the same four requests as bench/journeys/checkout.yml (login ->
 * view price -> add to cart -> checkout, with the token and the cart id carried over), started at a fixed
 * rate, by the least a client can do with the I/O model journeyd and k6 use: one thread, non-blocking sockets,
 * one epoll_wait per wake-up, arrivals timed by epoll_wait's timeout. Requests are formatted into a buffer;
 * an answer's status, Content-Length and the two captured values are read with string searches. No
 * runtime, no timers beyond the schedule, no allocation after start, no checks beyond status codes and
 * captures, no latency recorded.
 *
 * Its CPU per journey is what the kernel charges any client for this traffic on this machine, plus next to
 * nothing: on loopback a send runs the target's receive path and its wake-up in the sender's context, and
 * every answer ends a sleep. bench/run builds it with the system's C compiler (when there is one) and prints
 * it beside journeyd and k6, so their ratio can be read against what no tool can avoid.
 *
 * Written in C, not Rust, so that nothing of journeyd's runtime or of any crate is in it.
 *
 * usage: checkout_floor HOST PORT RATE SECONDS PASSWORD
 * Open model: an arrival takes an idle connection (at most MAX_IN_FLIGHT, as journeyd's --max-users and
 * k6's VUs), or is dropped when all are busy. Prints one JSON line: journeys completed, failed and dropped,
 * arrivals started more than one gap late, and the process's user and system CPU seconds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_IN_FLIGHT 200
#define BUF 8192

struct conn {
    int fd;    /* -1 until first used */
    int step;  /* 0..3 while busy */
    unsigned account;
    size_t got;
    char token[128], cart[64];
    char buf[BUF];
};

static const char *host, *password;
static int port, ep;
static struct conn conns[MAX_IN_FLIGHT];
static int idle[MAX_IN_FLIGHT], n_idle;
static long done, failed, dropped, late;

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static int dial(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* The JSON string member `key` (as `"key":"value"`) of body, copied into out. */
static int json_string(const char *body, const char *key, char *out, size_t cap) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(body, pat);
    if (!p) return 0;
    p += strlen(pat);
    const char *q = strchr(p, '"');
    if (!q || (size_t)(q - p) >= cap) return 0;
    memcpy(out, p, (size_t)(q - p));
    out[q - p] = 0;
    return 1;
}

/* Sends the request of c's current step. */
static int send_step(struct conn *c) {
    char req[1024], json[256];
    const char *method = "POST", *path, *body = json;
    switch (c->step) {
    case 0:
        path = "/api/login";
        snprintf(json, sizeof json, "{\"email\":\"customer%02u@shop.test\",\"password\":\"%s\"}", c->account % 32 + 1,
                 password);
        break;
    case 1:
        method = "GET", path = "/api/products/SKU-1001", body = NULL;
        break;
    case 2:
        path = "/api/cart/items", body = "{\"sku\":\"SKU-1001\",\"qty\":1}";
        break;
    default:
        path = "/api/checkout";
        snprintf(json, sizeof json, "{\"cart_id\":\"%s\"}", c->cart);
    }
    int len = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: %s:%d\r\n", method, path, host, port);
    if (c->step > 0) len += snprintf(req + len, sizeof req - len, "Authorization: Bearer %s\r\n", c->token);
    if (body)
        len += snprintf(req + len, sizeof req - len, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                        strlen(body), body);
    else
        len += snprintf(req + len, sizeof req - len, "\r\n");
    c->got = 0;
    return send(c->fd, req, (size_t)len, 0) == len;
}

static void finish(struct conn *c, int ok) {
    if (ok) {
        done++;
    } else {
        failed++;
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    idle[n_idle++] = (int)(c - conns);
}

static void start(unsigned account) {
    if (n_idle == 0) {
        dropped++;
        return;
    }
    struct conn *c = &conns[idle[--n_idle]];
    if (c->fd < 0) {
        if ((c->fd = dial()) < 0) {
            failed++;
            idle[n_idle++] = (int)(c - conns);
            return;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    c->account = account;
    c->step = 0;
    if (!send_step(c)) finish(c, 0);
}

/* c's socket is readable: read what came, and once the whole answer is in, check it and go on. */
static void readable(struct conn *c) {
    ssize_t n = recv(c->fd, c->buf + c->got, BUF - 1 - c->got, 0);
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN) return;
        finish(c, 0);
        return;
    }
    c->got += (size_t)n;
    c->buf[c->got] = 0;
    char *end = strstr(c->buf, "\r\n\r\n");
    if (!end) return;
    char *cl = strcasestr(c->buf, "content-length:");
    size_t want = (size_t)(end + 4 - c->buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
    if (c->got < want && c->got < BUF - 1) return;
    int status = atoi(c->buf + 9);
    const char *body = end + 4;
    int ok;
    switch (c->step) {
    case 0: ok = status == 200 && json_string(body, "token", c->token, sizeof c->token); break;
    case 1: ok = status == 200 && strstr(body, "\"price\":") != NULL; break;
    case 2: ok = status == 200 && json_string(body, "cart_id", c->cart, sizeof c->cart); break;
    default: ok = status == 201 && strstr(body, "\"order_id\"") != NULL;
    }
    if (!ok || c->step == 3) {
        finish(c, ok);
        return;
    }
    c->step++;
    if (!send_step(c)) finish(c, 0);
}

static double secs(struct timeval t) { return (double)t.tv_sec + (double)t.tv_usec / 1e6; }

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s HOST PORT RATE SECONDS PASSWORD\n", argv[0]);
        return 2;
    }
    host = argv[1];
    port = atoi(argv[2]);
    double rate = atof(argv[3]), seconds = atof(argv[4]);
    password = argv[5];
    if (rate <= 0 || seconds <= 0) {
        fprintf(stderr, "RATE and SECONDS must be positive\n");
        return 2;
    }
    if ((ep = epoll_create1(0)) < 0) return 3;
    for (int k = 0; k < MAX_IN_FLIGHT; k++) {
        conns[k].fd = -1;
        idle[k] = MAX_IN_FLIGHT - 1 - k;
    }
    n_idle = MAX_IN_FLIGHT;
    long total = (long)(rate * seconds), gap = (long)(1e9 / rate), t0 = now_ns(), i = 0;
    struct epoll_event events[64];
    while (i < total || n_idle < MAX_IN_FLIGHT) {
        long now = now_ns();
        /* Every arrival that is due starts now: the schedule, not the answers, sets the pace. */
        for (; i < total && t0 + i * gap <= now; i++) {
            if (now - (t0 + i * gap) > gap) late++;
            start((unsigned)i);
        }
        int timeout = -1;
        if (i < total) timeout = (int)((t0 + i * gap - now + 999999) / 1000000);
        int n = epoll_wait(ep, events, 64, timeout);
        for (int k = 0; k < n; k++) readable(events[k].data.ptr);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"journeys\": %ld, \"failed\": %ld, \"dropped\": %ld, \"late\": %ld, \"user_s\": %.6f, \"system_s\": %.6f}\n",
           done, failed, dropped, late, secs(ru.ru_utime), secs(ru.ru_stime));
    return failed ? 1 : 0;
}
