//go:build race

package detect

// raceEnabled: the race detector makes the benign hour ten times slower.
const raceEnabled = true
