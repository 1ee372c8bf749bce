/* Calls getppid() N times (argv[1], default 1000): a workload whose event count is known. */
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;

	for (long i = 0; i < n; i++)
		getppid();
	return 0;
}
