//go:build race

package fastproxy

// pathRace: the race detector slows streaming about tenfold, so the
// streaming test moves less data under it.
const pathRace = true
