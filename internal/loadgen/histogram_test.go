package loadgen

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogram_ExactBelow256ns(t *testing.T) {
	var h Histogram
	for v := 200; v >= 1; v-- { // order does not matter
		h.Record(time.Duration(v))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{
		{0, 1}, {0.005, 1}, {0.01, 2}, {0.5, 100}, {0.9, 180}, {0.99, 198}, {0.995, 199}, {0.999, 200}, {1, 200},
	} {
		if got := h.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %v, want %v (nearest rank)", c.q, got, c.want)
		}
	}
	if h.Count() != 200 || h.Min() != 1 || h.Max() != 200 || h.Mean() != 100 {
		t.Errorf("count %d min %v max %v mean %v, want 200 1ns 200ns 100ns", h.Count(), h.Min(), h.Max(), h.Mean())
	}
}

// Above 256 ns each quantile is within 1/256 of the exact nearest rank of
// the same samples.
func TestHistogram_QuantilesWithinPrecision(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var samples []time.Duration
	var h Histogram
	for range 100_000 {
		// 50 µs to about 20 ms, skewed like latencies.
		d := 50*time.Microsecond + time.Duration(r.ExpFloat64()*float64(300*time.Microsecond))
		samples = append(samples, d)
		h.Record(d)
	}
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 0.9999} {
		rank := int(float64(len(samples))*q + 0.999999)
		exact := samples[rank-1]
		got := h.Quantile(q)
		if diff := (got - exact).Abs(); float64(diff) > float64(exact)/256 {
			t.Errorf("Quantile(%v) = %v, exact %v: off by %v, more than 1/256", q, got, exact, diff)
		}
	}
	if h.Max() != samples[len(samples)-1] || h.Quantile(1) != h.Max() || h.Min() != samples[0] {
		t.Errorf("min %v max %v q1 %v, want the exact extremes %v %v", h.Min(), h.Max(), h.Quantile(1), samples[0], samples[len(samples)-1])
	}
}

func TestHistogram_MergeEqualsOneHistogram(t *testing.T) {
	var a, b, all Histogram
	for i := range 5000 {
		d := time.Duration(i*i) * time.Nanosecond
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&Histogram{}) // empty: no effect on min
	m.Merge(&b)
	if m != all {
		t.Fatalf("merged: count %d min %v max %v p99 %v; one histogram: %d %v %v %v",
			m.Count(), m.Min(), m.Max(), m.Quantile(0.99), all.Count(), all.Min(), all.Max(), all.Quantile(0.99))
	}
}

func TestHistogram_EmptyAndOutOfRange(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Mean() != 0 || h.Max() != 0 {
		t.Fatal("an empty histogram reports 0")
	}
	h.Record(-time.Second)
	h.Record(time.Duration(1) << 50)
	if h.Min() != 0 || h.Max() != time.Duration(maxValue) || h.Quantile(1) != time.Duration(maxValue) {
		t.Fatalf("min %v max %v: negatives count as 0, huge values as the largest kept", h.Min(), h.Max())
	}
}

func TestBuckets_ContiguousAndOrdered(t *testing.T) {
	next := int64(0)
	for i := range numBuckets {
		low, width := bucketRange(i)
		if low != next || width < 1 {
			t.Fatalf("bucket %d starts at %d (width %d), want %d", i, low, width, next)
		}
		if bucketOf(low) != i || bucketOf(low+width-1) != i {
			t.Fatalf("bucket %d: its values map to %d..%d", i, bucketOf(low), bucketOf(low+width-1))
		}
		if i >= 1<<subBits && width*256 > low {
			t.Fatalf("bucket %d is %d wide at %d: more than 1/256", i, width, low)
		}
		next = low + width
	}
	if next != maxValue+1 {
		t.Fatalf("buckets end at %d, want %d", next, maxValue+1)
	}
}
