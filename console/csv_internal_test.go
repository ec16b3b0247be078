package console

import (
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/registry"
)

func TestDefuse(t *testing.T) {
	for in, want := range map[string]string{
		"":              "",
		"alice":         "alice",
		"=1+1":          "'=1+1",
		"+1":            "'+1",
		"-1":            "'-1",
		"@SUM(A1)":      "'@SUM(A1)",
		"\tx":           "'\tx",
		"\rx":           "'\rx",
		"a=b":           "a=b",
		"'quoted":       "'quoted",
		"2026-01-01T00": "2026-01-01T00",
	} {
		if got := defuse(in); got != want {
			t.Errorf("defuse(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[int64]int64{0: 2, 1: 2, 2: 2, 3: 5, 7: 10, 10: 10, 11: 20, 199: 200, 201: 500, 5001: 10000} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestChart_StacksSuccessesPerIdPThenErrors(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	s := registry.Summary{
		From: start, To: start.Add(3 * time.Hour), Step: time.Hour, IdPs: []string{"entra", "okta"},
		Buckets: []registry.Bucket{
			{Start: start, ByIdP: map[string]registry.Counts{"okta": {Success: 6, Error: 2}, "entra": {Success: 2}}},
			{Start: start.Add(time.Hour), ByIdP: map[string]registry.Counts{}},
			{Start: start.Add(2 * time.Hour), ByIdP: map[string]registry.Counts{"entra": {Error: 1}}},
		},
	}
	ch := newChart(s)
	if ch.Empty || len(ch.Bars) != 4 {
		t.Fatalf("bars %+v", ch.Bars)
	}
	// Peak 10 → scale 10: the first bar fills the plot, bottom-up entra, okta, errors.
	plotH := ch.Bottom - ch.Top
	for i, want := range []struct {
		class string
		h     float64
	}{{"s0", 0.2 * plotH}, {"s1", 0.6 * plotH}, {"e", 0.2 * plotH}, {"e", 0.1 * plotH}} {
		if b := ch.Bars[i]; b.Class != want.class || b.H < want.h-0.01 || b.H > want.h+0.01 {
			t.Errorf("bar %d: %s %.1f, want %s %.1f", i, b.Class, b.H, want.class, want.h)
		}
	}
	if top := ch.Bars[2]; top.Y < ch.Top-0.01 {
		t.Errorf("the stack overflows the plot: y %.1f", top.Y)
	}
	if ch.YTicks[2].Label != "10" || ch.XTicks[0].Label != "00:00" {
		t.Errorf("ticks %+v %+v", ch.YTicks, ch.XTicks)
	}
	if len(ch.Legend) != 3 || ch.Legend[2].Class != "e" {
		t.Errorf("legend %+v", ch.Legend)
	}
	if !newChart(registry.Summary{From: start, To: start.Add(time.Hour)}).Empty {
		t.Error("a summary without requests is not empty")
	}
}
