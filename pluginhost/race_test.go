//go:build race

package pluginhost_test

// raceEnabled: plugins must be built with -race to load into this binary.
const raceEnabled = true
