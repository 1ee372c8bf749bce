/* main -> outer -> middle -> leaf, N times (argv[1], default 1000): `uprobe:./chain:leaf` sees
 * N hits with one user stack. Built without optimisation and with frame pointers (Makefile). */
#include <stdlib.h>
#include <unistd.h>

volatile long sink;

__attribute__((noinline)) long leaf(long x) { return x + getppid(); }
__attribute__((noinline)) long middle(long x) { return leaf(x + 1) + 1; }
__attribute__((noinline)) long outer(long x) { return middle(x + 1) + 1; }

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;

	for (long i = 0; i < n; i++)
		sink += outer(i);
	return 0;
}
