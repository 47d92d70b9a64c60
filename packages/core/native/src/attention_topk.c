/*
 * Exact top-k of one score row by radix select (docs/attention.md §4; TileLang's radix-histogram `topk_selector`;
 * the same algorithm and result as `radixTopK` in @ds/attention's topk.ts).
 *
 *   key(x) = order-preserving uint32 image of the float bits (negative: ~bits, else bits | 2^31)
 *   3 histogram passes over 11/11/10-bit digits, most significant first, find the k-th largest key θ and how
 *   many keys equal to θ belong to the top k (e); the first pass reads the whole row, later passes only the
 *   candidates whose higher digits equal θ's. One collecting pass then writes, in ascending index order, every i
 *   with key > θ and the first e with key = θ (ties go to the lower index), then −1 up to `width`.
 * O(n) per row; rows with n ≤ k are the whole prefix.
 */
#include <stdlib.h>
#include <string.h>

#include "attention_kernels.h"

static inline uint32_t ordered_key(float x) {
  uint32_t bits;
  memcpy(&bits, &x, sizeof bits);
  return bits & 0x80000000u ? ~bits : bits | 0x80000000u;
}

static const struct {
  int shift;
  uint32_t mask;
} passes[3] = {{21, 0x7ff}, {10, 0x7ff}, {0, 0x3ff}};

/* The digit holding the need-th largest key among the histogram's keys; need becomes its rank inside the bin. */
static uint32_t select_digit(const uint32_t* histogram, uint32_t mask, int64_t* need) {
  uint32_t digit = mask;
  while (digit > 0 && (int64_t)histogram[digit] < *need) *need -= histogram[digit--];
  return digit;
}

int ds_topk_row(const float* row, int64_t n, int64_t k, int32_t* out, int64_t width, int32_t* scratch) {
  const int64_t take = k < n ? k : n;
  if (take == n) {
    for (int64_t i = 0; i < width; i++) out[i] = i < n ? (int32_t)i : -1;
    return DS_ATTN_OK;
  }
  int32_t* candidates = scratch != NULL ? scratch : malloc(sizeof(int32_t) * (size_t)n);
  if (candidates == NULL) return DS_ATTN_NO_MEMORY;
  uint32_t histogram[2048];
  int64_t need = take;

  memset(histogram, 0, sizeof histogram);
  for (int64_t i = 0; i < n; i++) histogram[ordered_key(row[i]) >> passes[0].shift]++;
  uint32_t prefix = select_digit(histogram, passes[0].mask, &need) << passes[0].shift;
  int64_t remaining = 0;
  for (int64_t i = 0; i < n; i++)
    if (ordered_key(row[i]) >> passes[0].shift == prefix >> passes[0].shift) candidates[remaining++] = (int32_t)i;

  for (int p = 1; p < 3; p++) {
    const int shift = passes[p].shift;
    const uint32_t mask = passes[p].mask;
    memset(histogram, 0, sizeof(uint32_t) * (mask + 1));
    for (int64_t c = 0; c < remaining; c++) histogram[(ordered_key(row[candidates[c]]) >> shift) & mask]++;
    const uint32_t digit = select_digit(histogram, mask, &need);
    prefix |= digit << shift;
    int64_t kept = 0;
    for (int64_t c = 0; c < remaining; c++) {
      const int32_t i = candidates[c];
      if (((ordered_key(row[i]) >> shift) & mask) == digit) candidates[kept++] = i;
    }
    remaining = kept;
  }

  int64_t written = 0, equal_left = need;
  for (int64_t i = 0; i < n; i++) {
    const uint32_t key = ordered_key(row[i]);
    if (key > prefix || (key == prefix && equal_left-- > 0)) out[written++] = (int32_t)i;
  }
  for (; written < width; written++) out[written] = -1;
  if (scratch == NULL) free(candidates);
  return DS_ATTN_OK;
}
