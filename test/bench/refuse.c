/*
 * refuse.c: the refusal load of test/benchmark.
 *
 * N connections (one thread each, libpq, no other work) send the same
 * statement over and over, each as one simple-protocol query in autocommit,
 * for a fixed time, and expect every one to fail with a given SQLSTATE
 * (and, optionally, a message starting with a given prefix).  Each
 * statement is timed with clock_gettime(CLOCK_MONOTONIC) around PQexec, so
 * the latency includes the round trip and nothing else of the client's.
 * The client's own work per statement is one PQexec and one PQclear: small
 * next to a refusal.
 *
 *   refuse -d CONNINFO -c CLIENTS -T SECONDS -s SQLSTATE [-m PREFIX] -q STATEMENT
 *
 * Prints one line of key=value:
 *   clients seconds refusals unexpected rate mean_ms p50_ms p90_ms p99_ms max_ms
 * where rate is refusals per second over the wall time from the moment
 * every client is connected to the moment the last one is done.  Any
 * statement that does not fail as expected (it succeeded, or failed
 * otherwise) counts as unexpected, and the first one is described on
 * stderr.  Exits 1 if a connection fails, 0 otherwise.
 *
 * With -s 00000 each statement must succeed instead (a single-row INSERT,
 * each its own commit: the rate to compare refusals with), and "refusals"
 * counts the statements that did.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

typedef struct Client
{
	pthread_t	thread;
	PGconn	   *conn;
	long		refusals;
	long		unexpected;
	double	   *latency;		/* seconds, one per refusal */
	long		nlatency;
	long		cap;
	char		first_unexpected[512];
	int			broken;
} Client;

static const char *statement;
static const char *sqlstate;
static const char *prefix;
static int	expect_success;		/* SQLSTATE 00000: each statement must succeed */
static double duration;
static pthread_barrier_t start_barrier;
static double start_time;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
keep_latency(Client *c, double seconds)
{
	if (c->nlatency == c->cap)
	{
		c->cap = c->cap ? c->cap * 2 : 4096;
		c->latency = realloc(c->latency, c->cap * sizeof(double));
		if (c->latency == NULL)
		{
			perror("realloc");
			exit(1);
		}
	}
	c->latency[c->nlatency++] = seconds;
}

static void *
run_client(void *arg)
{
	Client	   *c = (Client *) arg;
	double		deadline;

	pthread_barrier_wait(&start_barrier);
	deadline = start_time + duration;
	while (now() < deadline)
	{
		double		t0 = now();
		PGresult   *res = PQexec(c->conn, statement);
		double		t1 = now();
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		const char *message = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

		if (res && expect_success ?
			PQresultStatus(res) == PGRES_COMMAND_OK :
			(res && PQresultStatus(res) == PGRES_FATAL_ERROR &&
			 state && strcmp(state, sqlstate) == 0 &&
			 (prefix == NULL || (message && strncmp(message, prefix, strlen(prefix)) == 0))))
		{
			c->refusals++;
			keep_latency(c, t1 - t0);
		}
		else
		{
			if (c->unexpected++ == 0)
				snprintf(c->first_unexpected, sizeof(c->first_unexpected),
						 "status %s, SQLSTATE %s: %s",
						 res ? PQresStatus(PQresultStatus(res)) : "(no result)",
						 state ? state : "-",
						 message ? message : PQerrorMessage(c->conn));
		}
		PQclear(res);
		if (PQstatus(c->conn) != CONNECTION_OK)
		{
			c->broken = 1;
			break;
		}
	}
	return NULL;
}

static int
compare_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values. */
static double
percentile(const double *v, long n, double p)
{
	long		rank;

	if (n == 0)
		return 0;
	rank = (long) (p / 100.0 * n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

static void
usage(void)
{
	fprintf(stderr, "usage: refuse -d CONNINFO -c CLIENTS -T SECONDS -s SQLSTATE [-m PREFIX] -q STATEMENT\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *conninfo = NULL;
	int			nclients = 1;
	int			opt;
	int			i;
	int			failed = 0;
	Client	   *clients;
	long		refusals = 0;
	long		unexpected = 0;
	long		n = 0;
	double	   *all;
	double		sum = 0;
	double		elapsed;

	while ((opt = getopt(argc, argv, "d:c:T:s:m:q:")) != -1)
	{
		switch (opt)
		{
			case 'd':
				conninfo = optarg;
				break;
			case 'c':
				nclients = atoi(optarg);
				break;
			case 'T':
				duration = atof(optarg);
				break;
			case 's':
				sqlstate = optarg;
				break;
			case 'm':
				prefix = optarg;
				break;
			case 'q':
				statement = optarg;
				break;
			default:
				usage();
		}
	}
	if (conninfo == NULL || statement == NULL || sqlstate == NULL ||
		nclients < 1 || duration <= 0)
		usage();
	expect_success = (strcmp(sqlstate, "00000") == 0);

	clients = calloc(nclients, sizeof(Client));
	for (i = 0; i < nclients; i++)
	{
		clients[i].conn = PQconnectdb(conninfo);
		if (PQstatus(clients[i].conn) != CONNECTION_OK)
		{
			fprintf(stderr, "refuse: connection %d failed: %s", i,
					PQerrorMessage(clients[i].conn));
			return 1;
		}
	}

	/* Every client connected before the clock starts. */
	pthread_barrier_init(&start_barrier, NULL, nclients + 1);
	for (i = 0; i < nclients; i++)
		pthread_create(&clients[i].thread, NULL, run_client, &clients[i]);
	start_time = now();
	pthread_barrier_wait(&start_barrier);
	for (i = 0; i < nclients; i++)
		pthread_join(clients[i].thread, NULL);
	elapsed = now() - start_time;

	for (i = 0; i < nclients; i++)
	{
		refusals += clients[i].refusals;
		unexpected += clients[i].unexpected;
		if (clients[i].unexpected > 0)
			fprintf(stderr, "refuse: client %d: %ld unexpected results; the first: %s\n",
					i, clients[i].unexpected, clients[i].first_unexpected);
		if (clients[i].broken)
		{
			fprintf(stderr, "refuse: client %d lost its connection: %s", i,
					PQerrorMessage(clients[i].conn));
			failed = 1;
		}
	}
	all = malloc((refusals > 0 ? refusals : 1) * sizeof(double));
	for (i = 0; i < nclients; i++)
	{
		memcpy(all + n, clients[i].latency, clients[i].nlatency * sizeof(double));
		n += clients[i].nlatency;
	}
	for (i = 0; i < n; i++)
		sum += all[i];
	qsort(all, n, sizeof(double), compare_double);

	printf("clients=%d seconds=%.3f refusals=%ld unexpected=%ld rate=%.1f "
		   "mean_ms=%.3f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
		   nclients, elapsed, refusals, unexpected,
		   elapsed > 0 ? refusals / elapsed : 0,
		   n ? sum / n * 1000 : 0,
		   percentile(all, n, 50) * 1000, percentile(all, n, 90) * 1000,
		   percentile(all, n, 99) * 1000, n ? all[n - 1] * 1000 : 0);

	for (i = 0; i < nclients; i++)
		PQfinish(clients[i].conn);
	return failed;
}
