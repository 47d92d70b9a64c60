/*
 * A two-thread parallel loop for the attention kernels' own loops (never around BLAS calls: OpenBLAS keeps its
 * own threads). The calling thread and one helper pull grains of [0, count) from a shared atomic counter, so the
 * split adapts when a core is busy elsewhere (a static half-and-half split waits for the slower half). Small loops
 * (count ≤ grain, or `threaded` false) run on the calling thread alone; a failed pthread_create does the same.
 */
#include <pthread.h>

#include "attention_kernels.h"

typedef struct {
  ds_attn_range_fn fn;
  void* context;
  int64_t count, grain;
  int64_t next; /* atomic */
} parallel_loop;

static void* pull_grains(void* arg) {
  parallel_loop* loop = arg;
  for (;;) {
    const int64_t begin = __atomic_fetch_add(&loop->next, loop->grain, __ATOMIC_RELAXED);
    if (begin >= loop->count) return NULL;
    const int64_t end = begin + loop->grain < loop->count ? begin + loop->grain : loop->count;
    loop->fn(loop->context, begin, end);
  }
}

void ds_attn_parallel(ds_attn_range_fn fn, void* context, int64_t count, int64_t grain, bool threaded) {
  parallel_loop loop = {fn, context, count, grain > 0 ? grain : 1, 0};
  pthread_t helper;
  const bool spawned = threaded && count > loop.grain && pthread_create(&helper, NULL, pull_grains, &loop) == 0;
  pull_grains(&loop);
  if (spawned) pthread_join(helper, NULL);
}
