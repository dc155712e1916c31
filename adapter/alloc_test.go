//go:build !race

package adapter

import "testing"

// The allocation budget: nothing when no plugin converts anything; per
// converted phase one arena string and one value-slice array, plus what the
// plugin's Header.Set allocates itself; at most 6 for the full round trip.
func TestAllocationBudget(t *testing.T) {
	ctx := benchCtx(t)
	cases := []struct {
		desc string
		max  float64
		run  func()
	}{
		{"no plugin", 0, func() { Release(Acquire(ctx)) }},
		{"request converted, unchanged", 2, func() {
			x := Acquire(ctx)
			x.Request()
			x.ApplyRequest()
			Release(x)
		}},
		{"request half, one header set", 3, func() { requestHalf(ctx) }},
		{"round trip, one header set per phase", 6, func() { roundTrip(ctx) }},
	}
	for _, tc := range cases {
		roundTrip(ctx) // warm the pools
		if got := testing.AllocsPerRun(200, tc.run); got > tc.max {
			t.Errorf("%s: %v allocs, budget %v", tc.desc, got, tc.max)
		}
	}
}
