/* CPU hog for the triage tests: N threads spinning in one named function. */
#include <pthread.h>
#include <stdlib.h>

volatile unsigned long triage_sink;

__attribute__((noinline)) void triage_hog_spin(void)
{
    for (;;)
        for (unsigned long i = 0; i < 1000000; i++)
            triage_sink += i;
}

static void *thread(void *arg) { (void)arg; triage_hog_spin(); return 0; }

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 4;
    pthread_t t;
    for (int i = 1; i < n; i++)
        pthread_create(&t, 0, thread, 0);
    triage_hog_spin();
    return 0;
}
