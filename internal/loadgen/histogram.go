package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the precision: each power of two is split into 2^subBits
// buckets, so a bucket is at most 1/256 of its values wide.
const subBits = 8

// maxValue is the largest latency kept apart; longer ones count as it.
const maxValue = int64(1)<<40 - 1 // about 18 minutes in nanoseconds

const numBuckets = (40-subBits)<<subBits + 1<<subBits

// Histogram counts latencies in log-linear buckets: exact below 256 ns,
// within 1/256 (0.4%) of the value above. The zero value is empty and
// ready; it takes about 66 KB. A Histogram is not safe for concurrent
// use: give each goroutine its own and Merge them.
type Histogram struct {
	counts   [numBuckets]uint64
	n        uint64
	min, max int64
	sum      float64
}

// bucketOf is the index of the bucket holding v (0 ≤ v ≤ maxValue).
func bucketOf(v int64) int {
	if v < 1<<subBits {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - subBits - 1
	return e<<subBits + int(v>>e)
}

// bucketRange is the lowest value of bucket i and its width.
func bucketRange(i int) (low, width int64) {
	if i < 1<<subBits {
		return int64(i), 1
	}
	e := i>>subBits - 1
	m := int64(i - e<<subBits)
	return m << e, int64(1) << e
}

// Record adds one latency; negative ones count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := min(max(int64(d), 0), maxValue)
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of latencies recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max are the exact extremes; 0 when empty.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max is the largest latency recorded; 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the exact average; 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile is the latency at or below which a fraction q of the recorded
// ones fall (nearest rank: the ceil(q·n)-th smallest), to within the
// bucket's width: the middle of its bucket, kept within Min and Max; the
// first and last ranks are Min and Max exactly. Empty, it is 0; q is
// clamped to [0, 1].
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(min(max(q, 0), 1) * float64(h.n)))
	switch {
	case rank <= 1:
		return time.Duration(h.min)
	case rank >= h.n:
		return time.Duration(h.max)
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen < rank {
			continue
		}
		low, width := bucketRange(i)
		return time.Duration(min(max(low+width/2, h.min), h.max))
	}
	return time.Duration(h.max) // not reached: the counts add up to n
}
