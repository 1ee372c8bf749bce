/* A USDT probe `myprov:tick` guarded by a semaphore: it fires (arg0 = i, arg1 = i * 10)
 * only while a tracer has the semaphore set. Ticks N times (argv[1], default 100), so
 * `usdt:./app:myprov:tick { @ = sum(arg1); }` prints 49500. Needs <sys/sdt.h>
 * (Debian/Ubuntu: systemtap-sdt-dev). */
#define _SDT_HAS_SEMAPHORES 1
#include <stdlib.h>
#include <sys/sdt.h>

unsigned short myprov_tick_semaphore __attribute__((section(".probes"))) __attribute__((used));

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100;

	for (long i = 0; i < n; i++)
		if (myprov_tick_semaphore)
			STAP_PROBE2(myprov, tick, i, i * 10);
	return 0;
}
