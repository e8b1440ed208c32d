#ifndef ALLOC_COUNT_H
#define ALLOC_COUNT_H

/// Heap allocations (malloc, calloc, realloc, aligned allocations) made so far by the calling thread.
unsigned long long alloc_count_thread(void);

#endif
